"""Tests of the featurize stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.featurize import TARGET, featurize


def test_standardize_uses_train_statistics(dataset: pd.DataFrame) -> None:
    train, test = dataset.iloc[:120], dataset.iloc[120:]
    train_f, test_f = featurize(train, test, standardize=True)
    features = [column for column in dataset.columns if column != TARGET]
    assert np.allclose(train_f[features].mean(), 0, atol=1e-9)
    # The test set is scaled with the train set's mean and deviation, not its own.
    mean, std = train["mean_radius"].mean(), train["mean_radius"].std(ddof=0)
    assert np.allclose(test_f["mean_radius"], (test["mean_radius"] - mean) / std)


def test_label_and_inputs_are_left_alone(dataset: pd.DataFrame) -> None:
    train, test = dataset.iloc[:120], dataset.iloc[120:]
    before = train.copy()
    train_f, test_f = featurize(train, test, standardize=True)
    pd.testing.assert_series_equal(train_f[TARGET], train[TARGET])
    pd.testing.assert_series_equal(test_f[TARGET], test[TARGET])
    pd.testing.assert_frame_equal(train, before)


def test_no_standardize_is_identity(dataset: pd.DataFrame) -> None:
    train_f, test_f = featurize(dataset.iloc[:100], dataset.iloc[100:], standardize=False)
    pd.testing.assert_frame_equal(train_f, dataset.iloc[:100])
    pd.testing.assert_frame_equal(test_f, dataset.iloc[100:])

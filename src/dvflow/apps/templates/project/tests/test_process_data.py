"""Tests of the process_data stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.process_data import TARGET, clean, split_data


def test_split_keeps_every_row_once(dataset: pd.DataFrame) -> None:
    train, test = split_data(dataset, test_size=0.2, seed=0)
    assert len(train) + len(test) == len(dataset)
    rows = pd.concat([train, test]).sort_values(list(dataset.columns), ignore_index=True)
    expected = dataset.sort_values(list(dataset.columns), ignore_index=True)
    pd.testing.assert_frame_equal(rows, expected)


def test_split_is_deterministic(dataset: pd.DataFrame) -> None:
    first = split_data(dataset, test_size=0.2, seed=42)
    second = split_data(dataset, test_size=0.2, seed=42)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_split_is_stratified(dataset: pd.DataFrame) -> None:
    _, test = split_data(dataset, test_size=0.25, seed=1)
    whole = dataset[TARGET].value_counts(normalize=True).sort_index()
    held_out = test[TARGET].value_counts(normalize=True).sort_index()
    assert np.allclose(whole, held_out, atol=0.05)


def test_clean_drops_missing_and_duplicate_rows() -> None:
    frame = pd.DataFrame({"x": [1.0, 1.0, np.nan, 2.0], TARGET: [0, 0, 1, 1]})
    cleaned = clean(frame)
    assert cleaned.to_dict("list") == {"x": [1.0, 2.0], TARGET: [0, 1]}

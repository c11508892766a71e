"""Tests of the evaluate stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src.evaluate import evaluate_model, feature_importance, plot_importance
from src.process_data import split_data
from src.train_model import train_model


def _fitted(dataset: pd.DataFrame) -> tuple[object, pd.DataFrame]:
    train, test = split_data(dataset, test_size=0.3, seed=0)
    return train_model(train, n_estimators=20, max_depth=4, seed=0), test


def test_evaluation_reports_every_class(dataset: pd.DataFrame) -> None:
    model, test = _fitted(dataset)
    report = evaluate_model(model, test)
    assert set(report["per_class"]) == {"class_0", "class_1"}
    assert sum(c["support"] for c in report["per_class"].values()) == len(test)
    assert 0.5 < report["roc_auc"] <= 1.0


def test_feature_importance_covers_every_feature(dataset: pd.DataFrame, tmp_path: Path) -> None:
    model, test = _fitted(dataset)
    importance = feature_importance(model, test, n_repeats=2, seed=0)
    assert list(importance.columns) == ["feature", "importance"]
    assert sorted(importance["feature"]) == sorted(test.columns.drop("target"))
    assert importance["importance"].is_monotonic_decreasing

    plot_importance(importance, tmp_path / "importance.png")
    assert (tmp_path / "importance.png").stat().st_size > 0

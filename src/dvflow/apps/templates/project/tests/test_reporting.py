"""Tests of the files the stages write for DVC (src/reporting.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from src.reporting import save_confusion_matrix, write_metrics


def test_confusion_matrix_csv_has_dvc_columns(tmp_path: Path) -> None:
    csv, png = tmp_path / "plots" / "cm.csv", tmp_path / "plots" / "cm.png"
    save_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], csv, png)
    frame = pd.read_csv(csv)
    # DVC's confusion template reads one row per sample: actual, predicted.
    assert list(frame.columns) == ["actual", "predicted"]
    assert frame.values.tolist() == [[0, 0], [1, 1], [1, 2], [2, 2]]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_metrics_file_is_the_json_dvc_reads(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    metrics = dict(test={"accuracy": 0.9})
    write_metrics(metrics, path)
    assert json.loads(path.read_text()) == metrics

"""A long metric history written straight into a SQLite store's tables
(``mlflow_schema.insert_metric_history``) ends exactly as MLflow's own ``log_batch``
leaves it: the same ``metrics`` rows, the same ``latest_metrics``. An MLflow upgrade
that changes these tables, or how MLflow fills them, fails here."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dvflow.integrations.mlflow_schema import insert_metric_history

Point = tuple[str, float, int, int]  # key, value, timestamp (ms), step

# Out of order, with exact duplicates, two values at one step, NaN and infinities, and
# a key whose latest point is NaN.
FIRST: list[Point] = [
    *[("loss", 1.0 / (i + 1), 1_000 + i, i) for i in range(1_500)],
    ("loss", 0.25, 1_003, 3),  # the same as an earlier point: one row
    ("loss", 0.2, 1_010, 10),  # another value at step 10
    ("loss", math.nan, 2_000, 5),
    ("loss", math.inf, 2_001, 6),
    ("loss", -math.inf, 2_002, 7),
    *[("acc", 0.5 + i / 10_000, 1_000 + i, 2_000 - i) for i in range(1_200)],  # later: lower step
    ("lr", 0.1, 10, 1),
    ("lr", math.nan, 11, 2),
]
# A second write: partly the same points again, partly later ones.
SECOND: list[Point] = [*FIRST[:700], ("loss", 0.001, 9_000, 1_500), ("acc", 0.1, 1, 0)]


def _through_mlflow(client: Any, run_id: str, points: list[Point]) -> None:
    from mlflow.entities import Metric

    metrics = [Metric(*point) for point in points]
    for start in range(0, len(metrics), 1_000):
        client.log_batch(run_id, metrics=metrics[start : start + 1_000], synchronous=True)


def _rows(db: Path, table: str, run_id: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(
            conn.execute(
                f"SELECT key, value, timestamp, step, is_nan FROM {table} WHERE run_uuid = ?",
                (run_id,),
            ).fetchall()
        )


def _two_runs(client: Any) -> tuple[str, str]:
    experiment = client.create_experiment("history", artifact_location=Path.cwd().as_uri())
    ours, theirs = (client.create_run(experiment).info.run_id for _ in range(2))
    for run_id in (ours, theirs):
        # A latest point already there, later than all but SECOND's last one.
        client.log_metric(run_id, "loss", 9.0, timestamp=8_000, step=1_499)
    return ours, theirs


def test_the_same_rows_as_mlflows_log_batch(client: Any, tracking_uri: str) -> None:
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    ours, theirs = _two_runs(client)
    for points in (FIRST, SECOND):
        assert insert_metric_history(db, ours, points, timeout=5)
        _through_mlflow(client, theirs, points)
    for table in ("metrics", "latest_metrics"):
        written, expected = _rows(db, table, ours), _rows(db, table, theirs)
        assert written == expected, table
    # Each point once: FIRST's duplicate and SECOND's repeats are one row, beside the
    # point logged before and SECOND's two new ones.
    assert len(_rows(db, "metrics", ours)) == len(FIRST) - 1 + 1 + 2
    # And as MLflow reads them back.
    read, wanted = client.get_run(ours).data.metrics, client.get_run(theirs).data.metrics
    assert read.keys() == wanted.keys() and math.isnan(read.pop("lr"))
    assert read == {k: v for k, v in wanted.items() if k != "lr"}
    history = [(m.step, m.timestamp) for m in client.get_metric_history(ours, "loss")]
    assert sorted(history) == sorted(
        (m.step, m.timestamp) for m in client.get_metric_history(theirs, "loss")
    )


def test_what_it_cannot_write_is_left_to_mlflow(client: Any, tracking_uri: str) -> None:
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    ours, _ = _two_runs(client)
    before = _rows(db, "metrics", ours)
    assert not insert_metric_history(db, ours, [("loss", "high", 1, 1)], timeout=5)  # type: ignore[list-item]
    assert not insert_metric_history(db, ours, [("loss", 0.1, 1, 1.5)], timeout=5)  # type: ignore[list-item]
    assert not insert_metric_history(db, "no-such-run", FIRST, timeout=5)
    client.delete_run(ours)
    assert not insert_metric_history(db, ours, FIRST, timeout=5)
    client.restore_run(ours)
    with sqlite3.connect(db) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
    try:
        assert not insert_metric_history(db, ours, FIRST, timeout=5)
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    assert _rows(db, "metrics", ours) == before


def test_the_writer_uses_it_for_a_long_history(
    client: Any, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from dvflow.tracking.writer import log_metrics

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    ours, _ = _two_runs(client)
    batched: list[int] = []
    log_batch = MlflowClient.log_batch

    def counted(self: Any, run_id: str, metrics: Any = (), **kwargs: Any) -> Any:
        batched.append(len(metrics))
        return log_batch(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", counted)
    log_metrics(client, ours, [Metric("loss", 0.1, 1, i) for i in range(5_000)], sqlite_db=db)
    assert sum(batched) == 0 and len(client.get_metric_history(ours, "loss")) == 5_001
    # A few points, or no SQLite database: MLflow's own batches.
    log_metrics(client, ours, [Metric("acc", 0.5, 1, i) for i in range(3)], sqlite_db=db)
    log_metrics(client, ours, [Metric("f1", 0.5, 1, i) for i in range(1_500)])
    assert sum(batched) == 1_503

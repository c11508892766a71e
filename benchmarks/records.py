"""Read back what dvflow recorded, with MLflow's public client: a timed run whose record
is missing makes the suite fail (exit 1), whatever its time."""

from __future__ import annotations

from pathlib import Path

from harness import BenchError


def count_runs(uri: str) -> tuple[int, int]:
    """FINISHED dvflow runs in the store at ``uri``: (pipeline runs, stage runs)."""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return 0, 0  # no store yet (asking MLflow would create one)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    counts = []
    for kind in ("pipeline", "stage"):
        runs = client.search_runs(
            ids,
            f"tags.`dvflow.kind` = '{kind}' and attributes.status = 'FINISHED'",
            max_results=50_000,
        )
        counts.append(len(runs))
    return counts[0], counts[1]


def expect_runs(
    case: str, uri: str, before: tuple[int, int], invocations: int, stages: int
) -> tuple[int, int]:
    """Check that ``invocations`` more dvflow invocations of ``stages`` stages each were
    recorded in ``uri`` since ``before``; returns the new counts."""
    after = count_runs(uri)
    want = (before[0] + invocations, before[1] + invocations * stages)
    if after != want:
        raise BenchError(
            f"{case}: {uri} holds {after[0]} pipeline + {after[1]} stage runs, expected "
            f"{want[0]} + {want[1]}: a dvflow run is missing"
        )
    return after


def history_length(uri: str, key: str) -> int:
    """Points of metric ``key`` in the newest FINISHED stage run of the store."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        ids,
        "tags.`dvflow.kind` = 'stage' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return 0
    return len(client.get_metric_history(runs[0].info.run_id, key))

"""What ``dvflow repro`` prints about its stages: one line per stage as it ends, and a
table at the end as ``dvc exp show`` prints one (stage, status, time, run, metrics and
the change of each against the previous pipeline run of the same branch)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.recorder.protocol import StageOutcome, StageStatus
from dvflow.tracking import schema as tags
from dvflow.tracking.store import sqlite_path

if TYPE_CHECKING:
    from dvflow.repro.result import ReproResult

HEADERS = ["Stage", "Status", "Time", "Run", "Metrics"]
_KEY_METRICS = 4  # per stage, as many as a terminal line holds
SHORT_RUN_ID = 12  # characters of a run id shown: unique among a store's runs in practice


def short_run_id(run_id: str | None) -> str:
    """A run id as the terminal shows it (``dvflow show`` takes a unique prefix).

    >>> short_run_id("0123456789abcdef0123456789abcdef"), short_run_id(None)
    ('0123456789ab', '-')
    """
    return run_id[:SHORT_RUN_ID] if run_id else "-"


def duration(outcome: StageOutcome) -> str:
    """How long a stage took, or ``-`` when it did not run.

    >>> o = StageOutcome("train", StageStatus.RAN, 10.0, 72.5, [], {})
    >>> duration(o)
    '1m02.5s'
    >>> duration(StageOutcome("t", StageStatus.SKIPPED, 1.0, 1.0, [], {}))
    '-'
    """
    if outcome.status in (StageStatus.SKIPPED, StageStatus.NOT_RUN):
        return "-"
    seconds = max(outcome.ended - outcome.started, 0.0)
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s" if minutes else f"{rest:.1f}s"


def stage_line(outcome: StageOutcome) -> str:
    """The line printed as a stage ends: status, duration, and its run (created as the
    stage started; a stage restored from DVC's run cache gets its run only afterwards).

    >>> run_id = "0123456789abcdef0123456789abcdef"
    >>> stage_line(StageOutcome("train", StageStatus.RAN, 0.0, 2.0, [], {}, run_id=run_id))
    "dvflow: stage 'train' ran in 2.0s (run 0123456789ab)"
    """
    run = f" (run {short_run_id(outcome.run_id)})" if outcome.run_id else ""
    took = duration(outcome)
    timing = f" in {took}" if took != "-" else ""
    return f"dvflow: stage '{outcome.address}' {outcome.status.value}{timing}{run}"


def log_stage_line(outcome: StageOutcome) -> None:
    """Write :func:`stage_line` through DVC's logger, so that DVC's ``-q`` silences it."""
    logging.getLogger("dvc").info(stage_line(outcome))


def change(value: float, previous: float | None) -> str:
    """A metric with its change against the previous run.

    >>> change(0.75, 0.5), change(0.5, 0.5), change(0.5, None)
    ('0.75 (+0.25)', '0.5 (=)', '0.5')
    """
    if previous is None:
        return f"{value:.4g}"
    delta = value - previous
    return f"{value:.4g} ({'=' if delta == 0 else f'{delta:+.4g}'})"


def stage_rows(result: ReproResult, previous: dict[str, float]) -> list[list[str]]:
    """One row per stage: stage, status, time, run, its key metrics with their change.

    Metrics a stage wrote but the table has no room for, and the pipeline's metrics no
    stage row shows (a stage DVC skipped), come in a last ``(pipeline)`` row.
    """
    rows, shown = [], set()
    for outcome in result.stages:
        metrics = outcome.results.metrics if outcome.results else {}
        keys = sorted(metrics)[:_KEY_METRICS]
        shown.update(keys)
        cells = ", ".join(f"{k}={change(metrics[k], previous.get(k))}" for k in keys)
        run = short_run_id(outcome.run_id)
        rows.append([outcome.address, outcome.status.value, duration(outcome), run, cells])
    rest = sorted(k for k in result.metrics if k not in shown)[:_KEY_METRICS]
    if rest:
        cells = ", ".join(f"{k}={change(result.metrics[k], previous.get(k))}" for k in rest)
        rows.append(["(pipeline)", "", "", short_run_id(result.parent_run_id), cells])
    return rows


def _previous_metrics_sqlite(db: Path, experiment: str, run_id: str) -> dict[str, float] | None:
    """``previous_metrics`` read from a SQLite store without importing mlflow (seconds,
    at the end of every ``dvflow repro``); None when MLflow must answer."""
    from dvflow.integrations.mlflow_schema import TagCondition, search_runs_sqlite

    found = search_runs_sqlite(db, experiment, run_id=run_id, limit=1)
    if not found:
        return None
    branch = found[0].tags.get(tags.GIT_BRANCH)
    if not branch:
        return {}
    before = search_runs_sqlite(
        db,
        experiment,
        all_of=[
            [TagCondition(tags.KIND, tags.KIND_PIPELINE)],
            [TagCondition(tags.GIT_BRANCH, branch)],
        ],
        started_before=found[0].start_time,
        limit=1,
    )
    return None if before is None else (before[0].metrics if before else {})


def previous_metrics(tracking_uri: str, experiment: str, run_id: str) -> dict[str, float]:
    """The metrics of the pipeline run before ``run_id`` on the same branch (same
    experiment), or ``{}``: best effort, the table is shown without changes."""
    db = sqlite_path(tracking_uri)
    fast = _previous_metrics_sqlite(db, experiment, run_id) if db is not None else None
    if fast is not None:
        return fast
    from mlflow import MlflowClient

    try:
        client = MlflowClient(tracking_uri)
        run = client.get_run(run_id)
        branch = run.data.tags.get(tags.GIT_BRANCH)
        if not branch:
            return {}
        quoted = branch.replace("\\", "\\\\").replace("'", "\\'")
        found = client.search_runs(
            [run.info.experiment_id],
            filter_string=(
                f"tags.`{tags.KIND}` = '{tags.KIND_PIPELINE}' and "
                f"tags.`{tags.GIT_BRANCH}` = '{quoted}' and "
                f"attributes.start_time < {run.info.start_time}"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return dict(found[0].data.metrics) if found else {}
    except Exception:  # the table is a convenience: never fail the command for it
        return {}

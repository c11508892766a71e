"""`dvflow runs` on a SQLite store reads MLflow's tables without importing mlflow.

The read-only query of the MLflow adapter must answer exactly what MlflowClient's
search answers, on the same store: these tests fail when an MLflow upgrade changes the
tables it reads (or when the query drifts from MLflow's semantics).
"""

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dvflow.restore import listing
from dvflow.restore.listing import RunQuery
from dvflow.tracking import schema as tags
from dvflow.tracking.store import sqlite_path
from tests.conftest import TmpDir, python_env

EXPERIMENT = "proj"
OLD, NEW = "a" * 32, "b" * 32


def _run(client: Any, experiment_id: str, start: int, run_tags: dict[str, str], **kw: Any) -> str:
    run = client.create_run(experiment_id, start_time=start, tags=run_tags, run_name=kw.get("name"))
    for key, value in kw.get("metrics", {}).items():
        client.log_metric(run.info.run_id, key, value, step=0)
    client.set_terminated(run.info.run_id, kw.get("status", "FINISHED"))
    return str(run.info.run_id)


@pytest.fixture
def store(client: Any, tracking_uri: str) -> Path:
    """Runs with every kind of tag `dvflow runs` filters on, and some to leave out."""
    experiment_id = client.create_experiment(EXPERIMENT)
    other = client.create_experiment("other")
    common = {tags.KIND: tags.KIND_STAGE, tags.GIT_DIRTY: "false"}
    _run(
        client,
        experiment_id,
        1000,
        {
            **common,
            tags.DVC_STAGE: "prepare",
            "dvc.dep.data/raw.csv": "md5:abc1",
            tags.GIT_COMMIT: OLD,
        },
        name="prepare",
        metrics={"rows": 3.0},
    )
    _run(
        client,
        experiment_id,
        2000,
        {
            **common,
            tags.DVC_STAGE: "train",
            "dvc.out.data/raw.csv": "md5:ABC2",
            tags.GIT_COMMIT: NEW,
        },
        name="train",
        metrics={"acc": 0.5, "loss": math.nan},
        status="FAILED",
    )
    _run(
        client,
        experiment_id,
        2000,  # the same start time: ties are broken by run id
        {tags.KIND: tags.KIND_PIPELINE, tags.GIT_DIRTY: "true", tags.FINGERPRINT: "f" * 40},
        name="pipeline",
    )
    deleted = _run(client, experiment_id, 3000, {**common, tags.DVC_STAGE: "train"})
    client.delete_run(deleted)
    _run(client, other, 4000, {**common, tags.DVC_STAGE: "train"})
    db = sqlite_path(tracking_uri)
    assert db is not None
    return db


QUERIES = [
    RunQuery(),
    RunQuery(limit=1),
    RunQuery(stage="train"),
    RunQuery(stage="nope"),
    RunQuery(kind="pipeline"),
    RunQuery(status="FAILED"),
    RunQuery(data="data/raw.csv"),
    RunQuery(data="data/raw.csv", data_hash="md5:abc"),
    RunQuery(data="data/raw.csv", data_hash="md5:ABC"),
    RunQuery(data="data/raw.csv", data_hash="md5:abc1"),
    RunQuery(commits=(OLD,)),
    RunQuery(commits=("bbbb",)),
    RunQuery(commits=(NEW,), trees=("f" * 40,)),
    RunQuery(stage="train", data="data/raw.csv", commits=(NEW,)),
]


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_the_sqlite_read_answers_what_mlflow_answers(
    store: Path, client: Any, query: RunQuery
) -> None:
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    expected = [listing.summarize(r) for r in listing.search(client, [experiment_id], query)]
    fast = listing.search_sqlite(store, EXPERIMENT, query)
    assert fast is not None
    # NaN != NaN: compare the metrics' text.
    assert [(r.to_dict() | {"metrics": repr(r.metrics)}) for r in fast] == [
        (r.to_dict() | {"metrics": repr(r.metrics)}) for r in expected
    ]


def test_the_sqlite_read_leaves_what_it_cannot_answer_to_mlflow(store: Path) -> None:
    assert listing.search_sqlite(store, "no such experiment", RunQuery()) is None
    assert listing.search_sqlite(store.with_name("missing.db"), EXPERIMENT, RunQuery()) is None
    import sqlite3

    with sqlite3.connect(store) as conn:  # a store from another MLflow version
        conn.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")
    assert listing.search_sqlite(store, EXPERIMENT, RunQuery()) is None


@pytest.mark.slow  # a dvflow process
def test_dvflow_runs_answers_without_importing_mlflow(store: Path, scm: TmpDir) -> None:
    scm.gen({".dvflow/config.yaml": f"experiment: {EXPERIMENT}\n"})
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dvflow", "runs", "--data", "data/raw.csv"],
        cwd=scm.path,
        capture_output=True,
        text=True,
        env=python_env(),
        check=True,
    )
    assert "prepare" in result.stdout and "train" in result.stdout
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines()]
    assert [m for m in imported if m.split(".")[0] in ("mlflow", "dvc")] == []


def test_the_stage_table_compares_with_the_previous_run_of_the_branch(
    client: Any, tracking_uri: str
) -> None:
    from dvflow.repro.summary import _previous_metrics_sqlite, previous_metrics

    experiment_id = client.create_experiment(EXPERIMENT)

    def pipeline(start: int, branch: str, acc: float) -> str:
        run_tags = {tags.KIND: tags.KIND_PIPELINE, tags.GIT_BRANCH: branch}
        return _run(client, experiment_id, start, run_tags, metrics={"acc": acc})

    pipeline(1000, "main", 0.5)
    pipeline(1500, "feature", 0.7)
    latest = pipeline(2000, "main", 0.6)
    first_on_feature = pipeline(900, "feature", 0.1)
    assert previous_metrics(tracking_uri, EXPERIMENT, latest) == {"acc": 0.5}
    db = sqlite_path(tracking_uri)
    assert db is not None  # read without mlflow:
    assert _previous_metrics_sqlite(db, EXPERIMENT, latest) == {"acc": 0.5}
    assert previous_metrics(tracking_uri, EXPERIMENT, first_on_feature) == {}
    no_branch = _run(client, experiment_id, 3000, {tags.KIND: tags.KIND_PIPELINE})
    assert previous_metrics(tracking_uri, EXPERIMENT, no_branch) == {}

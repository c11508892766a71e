"""The offline spool against the team's server: a teammate's `dvflow repro` while the
server cannot be reached records into the spool, and `dvflow sync` (credentials from
MLflow's own variables) uploads it once: runs on the server, artifacts in S3."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, dvflow
from tests.stack import USER_PASSWORD, Stack, free_port

pytestmark = [pytest.mark.team, pytest.mark.slow]

# A stage that logs to MLflow itself: offline, its run goes to the local store beside
# the spool, and `dvflow sync` copies it (its artifact through the server to S3).
EVALUATE = """\
import json, mlflow
with mlflow.start_run():
    mlflow.log_metric("own", 0.75, step=2)
    mlflow.log_text("evaluated", "evaluation/notes.txt")
json.dump({"f1": 0.5}, open("scores.json", "w"))
"""

EVALUATE_STAGE = """\
  evaluate:
    cmd: python evaluate.py
    deps: [evaluate.py, models/model.pkl]
    metrics: [scores.json: {cache: false}]
"""


def _journals(project: TmpDir) -> list[Path]:
    return sorted((project.path / ".dvflow" / "tmp" / "spool").glob("*.jsonl"))


def _runs(client: Any, experiment: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def test_runs_spooled_while_the_server_is_away_are_synced_to_it_once(
    alice: TmpDir,
    teammate: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    experiment = os.environ["MLFLOW_EXPERIMENT_NAME"]
    pipeline = (alice.path / "dvc.yaml").read_text() + EVALUATE_STAGE
    alice.gen({"evaluate.py": EVALUATE, "dvc.yaml": pipeline})
    alice.commit("evaluation")
    # The server is away: nothing listens where the teammate's settings point.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    offline = dvflow(alice, "repro")
    assert (alice.path / "scores.json").is_file()
    warnings = [line for line in offline.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0], offline.stderr
    assert "Traceback" not in offline.stderr
    [journal] = _journals(alice)
    assert USER_PASSWORD not in journal.read_text()

    # The server is back. Without credentials it refuses the sync: said in one line,
    # nothing lost.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", teammate.tracking_uri)
    client = teammate.client()
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    refused = dvflow(alice, "sync", check=False)
    assert refused.returncode == 4, refused.stderr
    assert "the server refused the" in refused.stderr and "Traceback" not in refused.stderr
    assert _journals(alice) == [journal]
    # With the credentials in MLflow's variables, sync uploads it.
    for name, value in teammate.user_env().items():
        monkeypatch.setenv(name, value)
    assert _runs(client, experiment) == []
    synced = json.loads(dvflow(alice, "sync", "--json").stdout)
    [invocation] = synced["synced"]
    assert _journals(alice) == []
    parent_id = invocation["parent_run_id"]
    runs = {r.info.run_id: r for r in _runs(client, experiment)}
    assert runs[parent_id].data.tags[tags.KIND] == tags.KIND_PIPELINE
    stages = {r.info.run_name: r for r in runs.values() if r.info.run_id != parent_id}
    assert sorted(stages) == ["evaluate", "train"]
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    train, evaluate = stages["train"], stages["evaluate"]
    assert train.data.tags[tags.PARENT_RUN_ID] == parent_id
    assert evaluate.data.tags[tags.PARENT_RUN_ID] == parent_id
    assert train.data.metrics == {"accuracy": 1.0}
    # The script's own run became the stage's run: its history and artifact kept.
    assert evaluate.data.metrics == {"own": 0.75, "f1": 0.5}
    assert [m.step for m in client.get_metric_history(evaluate.info.run_id, "own")] == [2]
    assert train.data.tags[f"{tags.DVC_OUT_PREFIX}models/model.pkl"]
    # The artifacts went through the server into S3: the pipeline run's snapshot, and
    # what the script logged itself offline.
    keys = teammate.s3_keys("mlflow/")

    def artifacts(run_id: str) -> set[str]:
        return {k.split("/artifacts/", 1)[1] for k in keys if f"/{run_id}/artifacts/" in k}

    assert {"dvflow/snapshot.json", "dvflow/dvc.lock", "dvflow/lineage.svg"} <= artifacts(parent_id)
    assert artifacts(evaluate.info.run_id) == {"evaluation/notes.txt"}

    # Twice: nothing new.
    again = dvflow(alice, "sync")
    assert "nothing waits" in again.stdout
    assert len(_runs(client, experiment)) == len(runs)

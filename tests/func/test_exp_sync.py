"""`dvflow exp sync`: DVC's experiments and the branch's commits as MLflow runs, once each."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvc_exe, dvflow, python_env, run

pytestmark = pytest.mark.slow  # real dvc (and its queue workers) and mlflow

STAGE_SCRIPT = """\
import json
import dvflow
with dvflow.start_run():
    lr = dvflow.params()["train"]["lr"]
    json.dump({"acc": lr * 2}, open("metrics.json", "w"))
"""

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train.lr]
    metrics: [metrics.json: {cache: false}]
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    """Three commits: dvc init, then two with results."""
    dvc.gen({"train.py": STAGE_SCRIPT, "params.yaml": "train:\n  lr: 0.1\n", "dvc.yaml": PIPELINE})
    for lr in ("0.1", "0.2"):
        dvc.gen({"params.yaml": f"train:\n  lr: {lr}\n"})
        run([dvc_exe(), "repro", "-q"], dvc.path, env=python_env())
        dvc.commit(f"lr {lr}")
    return dvc


def _queue_grid(project: TmpDir) -> None:
    for name, lr in (("lr-low", "0.3"), ("lr-high", "0.5")):
        run(
            [dvc_exe(), "exp", "run", "--queue", "-n", name, "-S", f"train.lr={lr}"],
            project.path,
            env=python_env(),
        )


def _sync(project: TmpDir) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(dvflow(project, "exp", "sync", "--json").stdout)
    return result


def _synced(client: Any) -> dict[str, Any]:
    return {r.data.tags[tags.SYNC_KEY]: r for r in all_runs(client) if tags.SYNC_KEY in r.data.tags}


def _wait_for_queue(project: TmpDir, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = project.dvc("queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            return
        time.sleep(3)
    pytest.fail(f"the DVC queue did not finish:\n{status}")


def test_exp_sync_twice_over_commits_and_a_queued_grid(project: TmpDir, client: Any) -> None:
    head = project.git("rev-parse", "HEAD")
    _queue_grid(project)
    first = _sync(project)
    assert (first["created"], first["updated"]) == (4, 0)
    runs = _synced(client)
    commits = {k: r for k, r in runs.items() if r.data.tags[tags.KIND] == tags.KIND_COMMIT}
    # The commit without results (dvc init) has no run.
    assert {r.data.tags[tags.GIT_COMMIT] for r in commits.values()} == {
        head,
        project.git("rev-parse", "HEAD~1"),
    }
    assert commits[f"commit:{head}"].data.metrics == {"acc": 0.4}
    assert commits[f"commit:{head}"].data.params == {"train.lr": "0.2"}
    assert commits[f"commit:{head}"].data.tags[tags.FINGERPRINT] == project.git(
        "rev-parse", "HEAD^{tree}"
    )
    queued = {
        r.data.tags[tags.DVC_EXP_NAME]: r for r in runs.values() if tags.DVC_EXP_NAME in r.data.tags
    }
    assert set(queued) == {"lr-low", "lr-high"}
    for name, found in queued.items():
        assert found.info.status == "SCHEDULED"
        assert found.data.tags[tags.EXP_STATE] == "queued"
        assert found.data.tags[tags.DVC_EXP_BASELINE] == head
        assert found.data.tags[tags.DVC_EXP_REF] == f"refs/exps/{head[:2]}/{head[2:]}/{name}"
    assert queued["lr-high"].data.params == {"train.lr": "0.5"}

    # The grid runs two at a time; its stage runs land in the project's store.
    started = subprocess.run(
        [dvc_exe(), "queue", "start", "-j", "2"],
        cwd=project.path,
        env=python_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    _wait_for_queue(project)
    second = _sync(project)
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 2, 2)
    runs = _synced(client)
    for name, acc in (("lr-low", 0.6), ("lr-high", 1.0)):
        (found,) = [r for r in runs.values() if r.data.tags.get(tags.DVC_EXP_NAME) == name]
        assert found.info.status == "FINISHED"
        assert found.data.metrics == {"acc": acc}
        assert found.data.tags[tags.EXP_STATE] == "success"
        exp_commit = project.git("rev-parse", found.data.tags[tags.DVC_EXP_REF])
        assert found.data.tags[tags.GIT_COMMIT] == exp_commit
        # One pipeline run per experiment, with the stage run it recorded as its child.
        (child,) = [
            r for r in all_runs(client) if r.data.tags.get(tags.PARENT_RUN_ID) == found.info.run_id
        ]
        assert child.data.tags[tags.DVC_STAGE] == "train"
        assert child.data.tags[tags.DVC_EXP_NAME] == name
    total = len(all_runs(client))

    third = _sync(project)
    assert (third["created"], third["updated"], third["unchanged"]) == (0, 0, 4)
    assert len(all_runs(client)) == total


def test_exp_sync_completes_a_run_a_cut_off_sync_left(project: TmpDir, client: Any) -> None:
    head = project.git("rev-parse", "HEAD")
    # What a sync cut off right after creating the run leaves: the key, nothing else.
    # (dvflow.start_run() in the stage created the experiment)
    experiment = client.get_experiment_by_name("project").experiment_id
    client.create_run(experiment, tags={tags.SYNC_KEY: f"commit:{head}"})
    result = _sync(project)
    assert (result["created"], result["updated"]) == (1, 1)
    found = _synced(client)[f"commit:{head}"]
    assert found.data.metrics == {"acc": 0.4}
    assert found.info.status == "FINISHED"
    assert len(_synced(client)) == 2

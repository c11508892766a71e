"""Eight writers at once on one SQLite store: `dvflow repro` in separate clones on a
fresh store (the store is created once, under a lock), then eight scripts using
`dvflow.start_run` on the existing store (lighter: the CI budget). Then a grid of DVC
experiments run by DVC's queue, two at a time, each in its temporary copy of the repo:
their runs land in the project's own store. Every record lands; no "database is
locked"."""

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvc_exe, dvflow_exe, python_env, run

pytestmark = pytest.mark.slow  # sixteen dvflow and recorder processes at once

WRITERS = 8

SCRIPT = """\
import json, sys, mlflow
with mlflow.start_run():
    mlflow.log_metric("loss", 0.5)
    mlflow.log_param("clone", sys.argv[1])
json.dump({"acc": 0.9}, open("m.json", "w"))
"""


IN_SCRIPT = """\
import sys, dvflow
with dvflow.start_run(run_name="script-" + sys.argv[1]):
    dvflow.log_metrics({"loss": 0.25}, step=1)
"""


def _everywhere(clones: list[Path], uri: str, command: list[str], numbered: bool) -> list[Any]:
    environment = python_env(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="shared")
    started = []
    for number, clone in enumerate(clones):
        started.append(
            subprocess.Popen(
                [*command, *([str(number)] if numbered else [])],
                cwd=clone,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return [(p, *p.communicate(timeout=600)) for p in started]


def _clean(results: list[Any]) -> None:
    for process, _out, err in results:
        assert process.returncode == 0, err
        assert "database is locked" not in err and "Traceback" not in err, err


def test_eight_writers_on_a_fresh_then_an_existing_store(
    dvc: TmpDir, tmp_path: Path, client: Any
) -> None:
    dvc.gen(
        {
            "train.py": SCRIPT,
            "dvc.yaml": (
                "stages:\n  train:\n    cmd: python train.py ${clone}\n    deps: [train.py]\n"
                "    metrics: [m.json: {cache: false}]\n"
            ),
            "params.yaml": "clone: 0\n",
        }
    )
    dvc.commit("pipeline")
    clones = []
    for number in range(WRITERS):
        clone = tmp_path / f"clone-{number}"
        run(["git", "clone", "-q", str(dvc.path), str(clone)], tmp_path)
        (clone / "params.yaml").write_text(f"clone: {number}\n")
        clones.append(clone)
    db = tmp_path / "shared" / "mlflow.db"  # does not exist yet
    uri = f"sqlite:///{db}"
    from mlflow import MlflowClient

    shared = MlflowClient(uri)
    began = time.monotonic()
    _clean(_everywhere(clones, uri, [dvflow_exe(), "repro"], numbered=False))
    runs = all_runs(shared)
    parents = [r for r in runs if r.data.tags[tags.KIND] == tags.KIND_PIPELINE]
    stages = [r for r in runs if r.data.tags[tags.KIND] == tags.KIND_STAGE]
    assert len(parents) == len(stages) == WRITERS
    assert all(r.info.status == "FINISHED" for r in runs)
    # Each clone's script run became its stage's run: one run per stage, its params.
    assert sorted(r.data.params["clone"] for r in stages) == [str(n) for n in range(WRITERS)]
    assert all(r.data.metrics == {"loss": 0.5, "acc": 0.9} for r in stages)
    # The store exists now: eight more writers through the in-script API.
    for clone in clones:
        (clone / "log.py").write_text(IN_SCRIPT)
    _clean(_everywhere(clones, uri, ["python", "log.py"], numbered=True))
    scripts = [r for r in all_runs(shared) if r.data.tags[tags.KIND] == tags.KIND_SCRIPT]
    assert sorted(r.info.run_name for r in scripts) == [f"script-{n}" for n in range(WRITERS)]
    assert all(r.data.metrics == {"loss": 0.25} for r in scripts)
    written = 3 * WRITERS
    found = len(all_runs(shared))
    print(
        f"{WRITERS} writers x 2: {written} runs written, {found} found, "
        f"{time.monotonic() - began:.0f} s"
    )
    assert found == written
    assert all_runs(client) == []  # the per-test store was not touched


# The stage script of `dvflow init`'s template, cut to the bone.
QUEUED_STAGE = """\
import json
import dvflow
with dvflow.start_run():
    lr = dvflow.params()["train"]["lr"]
    dvflow.log_metrics({"acc": lr * 2})
    json.dump({"acc": lr * 2}, open("metrics.json", "w"))
"""
GRID = {"lr-1": "0.1", "lr-2": "0.2", "lr-3": "0.3", "lr-4": "0.4"}


def _queue_finished(project: TmpDir, timeout: float = 600) -> str:
    """`dvc queue status` once nothing is queued or running (a failed experiment
    included: the test says which)."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = project.dvc("queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(2)
    pytest.fail(f"the DVC queue did not finish in {timeout:.0f} s:\n{status}")


def test_queued_experiments_two_at_a_time_land_in_the_project_store(dvc: TmpDir) -> None:
    # No MLFLOW_TRACKING_URI: the project's own store (its mlflow.db), which each
    # experiment's temporary copy under .dvc/tmp/exps/ must find in the original repo.
    dvc.gen(
        {
            "train.py": QUEUED_STAGE,
            "params.yaml": "train:\n  lr: 0.05\n",
            "dvc.yaml": (
                "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
                "    params: [train.lr]\n    metrics: [metrics.json: {cache: false}]\n"
            ),
        }
    )
    dvc.commit("pipeline")
    environment = python_env()
    for name, lr in GRID.items():
        run(
            [dvc_exe(), "exp", "run", "--queue", "-n", name, "-S", f"train.lr={lr}"],
            dvc.path,
            env=environment,
        )
    began = time.monotonic()
    run([dvc_exe(), "queue", "start", "-j", "2"], dvc.path, env=environment)
    status = _queue_finished(dvc)
    assert "Failed" not in status, status
    for name in GRID:
        log = run([dvc_exe(), "queue", "logs", name], dvc.path, env=environment).stdout
        assert "database is locked" not in log and "Traceback" not in log, log
    from mlflow import MlflowClient

    store = MlflowClient(f"sqlite:///{dvc.path / 'mlflow.db'}")
    runs = all_runs(store)
    stages = [r for r in runs if r.data.tags.get(tags.KIND) == tags.KIND_STAGE]
    # One stage run per experiment, each named by its experiment, with its params.
    assert sorted(r.data.tags[tags.DVC_EXP_NAME] for r in stages) == sorted(GRID)
    assert len(runs) == len(stages) == len(GRID)
    for found in stages:
        lr = GRID[found.data.tags[tags.DVC_EXP_NAME]]
        assert found.info.status == "FINISHED"
        assert found.data.params["train.lr"] == lr
        assert found.data.metrics == {"acc": float(lr) * 2}
    # DVC has the same experiments, with the same results.
    shown = json.loads(dvc.dvc("exp", "show", "--json").stdout)
    names = {e.get("name") for commit in shown for e in commit.get("experiments") or []}
    assert set(GRID) <= names, names
    # Nothing was written into the temporary copies' (now deleted) folders.
    assert not list((dvc.path / ".dvc" / "tmp" / "exps").glob("**/mlflow.db"))
    print(
        f"{len(GRID)} queued experiments, -j 2: {len(GRID)} stage runs written, "
        f"{len(stages)} found, {time.monotonic() - began:.0f} s"
    )

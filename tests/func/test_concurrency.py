"""Eight writers at once on one SQLite store: `dvflow repro` in separate clones on a
fresh store (the store is created once, under a lock), then eight scripts using
`dvflow.start_run` on the existing store (lighter: the CI budget). Every record lands;
no "database is locked"."""

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow_exe, python_env, run

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

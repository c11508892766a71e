"""The in-script API takes MLflow's arguments with MLflow's meaning; DVC's own errors
keep DVC's exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow, python_env

pytestmark = pytest.mark.slow  # real mlflow processes, seconds each

SCRIPT = """\
import time
import warnings
import dvflow

with dvflow.start_run(run_name="outer") as outer:
    with dvflow.start_run(run_name="inner", nested=True, log_system_metrics=True):
        time.sleep(2.5)  # MLflow's sampler logs once a second here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dvflow.log_metrics({"acc": 0.5, "note": "n/a", "loss": {"train": 0.1}})
    print("WARNED", [str(w.message) for w in caught])
with dvflow.start_run(run_name="adopted", parent_run_id=outer.info.run_id):
    pass
with dvflow.start_run(outer.info.run_id):  # MLflow's first argument: the run to resume
    dvflow.log_metrics({"resumed": 1.0})
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    dvc.gen({"script.py": SCRIPT, "params.yaml": "lr: 0.1\n"})
    dvc.commit("script")
    return dvc


def test_start_run_forwards_mlflows_arguments(project: TmpDir, client: Any) -> None:
    env = python_env(
        MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL="1",
        MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING="1",
    )
    out = subprocess.run(
        [sys.executable, "script.py"],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    runs = {r.info.run_name: r for r in all_runs(client)}
    assert set(runs) == {"outer", "inner", "adopted"}
    outer, inner, adopted = runs["outer"], runs["inner"], runs["adopted"]
    assert inner.data.tags[tags.PARENT_RUN_ID] == outer.info.run_id
    assert adopted.data.tags[tags.PARENT_RUN_ID] == outer.info.run_id
    assert any(name.startswith("system/") for name in inner.data.metrics)
    assert not any(name.startswith("system/") for name in outer.data.metrics)
    # dvflow's documented difference from mlflow.log_metrics: nested keys joined,
    # a value that is not a number skipped with a warning instead of failing the batch.
    assert outer.data.metrics == {"acc": 0.5, "loss.train": 0.1, "resumed": 1.0}
    assert "metric 'note' is not a number and was skipped" in out
    assert all(r.data.tags[tags.KIND] == tags.KIND_SCRIPT for r in runs.values())


def test_experiment_id_argument_creates_no_other_experiment(
    project: TmpDir, client: Any, tmp_path: Path
) -> None:
    experiment_id = client.create_experiment("chosen", artifact_location=tmp_path.as_uri())
    project.gen(
        {
            "by_id.py": "import sys, dvflow\n"
            "with dvflow.start_run(experiment_id=sys.argv[1]):\n    pass\n"
        }
    )
    subprocess.run(
        [sys.executable, "by_id.py", experiment_id],
        cwd=project.path,
        env=python_env(),
        check=True,
        capture_output=True,
    )
    (run,) = all_runs(client)
    assert run.info.experiment_id == experiment_id
    names = {e.name for e in client.search_experiments()}
    assert names == {"Default", "chosen"}


def test_a_broken_dvc_config_exits_with_dvcs_code(project: TmpDir) -> None:
    project.gen({".dvc/config": "[core\nremote = x\n"})
    ours = dvflow(project, "repro", check=False)
    theirs = project.dvc("status", check=False)
    assert theirs.returncode == 251
    assert ours.returncode == 251, ours.stderr
    assert "Traceback" not in ours.stderr

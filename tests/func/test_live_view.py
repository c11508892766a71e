"""The live view of a running stage: its run exists RUNNING from the moment the stage
starts, the script's own MLflow run is that run, its step files grow in MLflow while it
trains (each step once), and system metrics are sampled into it when asked."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow_exe, python_env

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

# Writes DVCLive's step file row by row, uses MLflow unmodified, and waits between
# steps 2 and 3 for the test to say go (a file outside the project).
TRAIN = """\
import os, sys, time
from pathlib import Path
import mlflow

go = Path(sys.argv[1])
folder = Path("dvclive/plots/metrics")
folder.mkdir(parents=True, exist_ok=True)

def write(out, step):
    out.write(f"{int(time.time() * 1000)}\\t{step}\\t{1 / (step + 1)}\\n")
    out.flush()

with mlflow.start_run():
    mlflow.log_param("solver", "live")
    with open(folder / "loss.tsv", "w") as out:
        out.write("timestamp\\tstep\\tloss\\n")
        for step in range(3):
            write(out, step)
        deadline = time.time() + 180
        while not go.exists() and time.time() < deadline:
            time.sleep(0.1)
        for step in range(3, 5):
            write(out, step)
"""

PIPELINE = """\
stages:
  train:
    cmd: python train.py ../go
    deps: [train.py]
    outs: [dvclive]
plots:
  - dvclive/plots/metrics:
      x: step
"""

# Waits for the test's go (a file outside the project), then writes its output.
SLEEPER = """\
stages:
  sleep:
    cmd: python wait.py ../go
    deps: [wait.py]
    outs: [out.txt]
"""
WAIT = """\
import os, sys, time
deadline = time.time() + 180
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.1)
open("out.txt", "w").write("x")
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    dvc.gen({"train.py": TRAIN, "dvc.yaml": PIPELINE})
    dvc.commit("pipeline")
    return dvc


def _wait_for(what: str, found: Callable[[], Any], process: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.kill()
    output = process.communicate()
    pytest.fail(f"never saw {what}; dvflow said: {output}")


def _stage_runs(client: Any, stage: str) -> list[Any]:
    return [r for r in all_runs(client) if r.data.tags.get(tags.DVC_STAGE) == stage]


def test_a_running_stage_is_a_running_run_whose_history_grows(
    project: TmpDir, client: Any, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [dvflow_exe(), "repro"],
        cwd=project.path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def streamed() -> Any:
        runs = _stage_runs(client, "train")
        if runs and len(client.get_metric_history(runs[0].info.run_id, "loss")) >= 3:
            return runs
        return None

    # While the stage waits: its run is RUNNING, under the RUNNING parent, with the
    # steps written so far (streamed, not yet the final results).
    (running,) = _wait_for("the stage's streamed steps", streamed, process)
    assert running.info.status == "RUNNING"
    assert running.data.tags[tags.KIND] == tags.KIND_STAGE
    parent = client.get_run(running.data.tags[tags.PARENT_RUN_ID])
    assert parent.data.tags[tags.KIND] == tags.KIND_PIPELINE
    assert parent.info.status == "RUNNING"
    steps = [m.step for m in client.get_metric_history(running.info.run_id, "loss")]
    assert sorted(steps) == [0, 1, 2]

    (tmp_path / "go").write_text("")
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr

    # The script's mlflow.start_run() joined the stage's run: one run, FINISHED, with
    # what the script logged, and every step of the history exactly once.
    (final,) = _stage_runs(client, "train")
    assert final.info.run_id == running.info.run_id
    assert final.info.status == "FINISHED"
    assert final.data.params["solver"] == "live"
    history = client.get_metric_history(final.info.run_id, "loss")
    assert sorted(m.step for m in history) == [0, 1, 2, 3, 4]
    assert {m.step: m.value for m in history}[4] == pytest.approx(0.2)
    # No system metrics unless asked for.
    assert not [k for k in final.data.metrics if k.startswith("system/")]
    # The line printed as the stage ended names its run.
    line = next(x for x in stdout.splitlines() if "stage 'train' ran" in x)
    assert f"(run {final.info.run_id[:12]})" in line


def test_system_metrics_are_sampled_into_a_running_stage_when_asked(
    dvc: TmpDir, client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("psutil")  # MLflow's monitor needs it
    dvc.gen({"dvc.yaml": SLEEPER, "wait.py": WAIT, ".dvflow/config.yaml": "system_metrics: true\n"})
    dvc.commit("pipeline")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    process = subprocess.Popen(
        [dvflow_exe(), "repro"],
        cwd=dvc.path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Sampled for a few seconds once the run exists, however busy the machine is.
    _wait_for("the stage's run", lambda: _stage_runs(client, "sleep"), process)
    time.sleep(4)
    (tmp_path / "go").write_text("")
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    (run,) = _stage_runs(client, "sleep")
    assert run.info.status == "FINISHED"
    assert [k for k in run.data.metrics if k.startswith("system/")]
    parent = client.get_run(run.data.tags[tags.PARENT_RUN_ID])
    assert not [k for k in parent.data.metrics if k.startswith("system/")]

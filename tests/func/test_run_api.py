"""The in-script API, used by real scripts under plain python, dvc repro and dvc exp run."""

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvc_exe, python_env, run, template_project

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

STAGE_SCRIPT = """\
import sys
import dvflow

with dvflow.start_run() as active:
    params = dvflow.params()
    dvflow.log_metrics({"acc": params["train"]["lr"] * 2, "loss": {"final": 0.5}})
    with open("model.txt", "w") as handle:
        handle.write(str(params))
    if len(sys.argv) > 1 and sys.argv[1] == "fail":
        raise RuntimeError("planted failure")
"""

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, data]
    params: [train.lr, {extra.yaml: [extra.depth]}]
    outs: [model.txt]
"""


def _build(dvc: TmpDir) -> None:
    dvc.gen(
        {
            "train.py": STAGE_SCRIPT,
            "params.yaml": "train:\n  lr: 0.25\n  epochs: 3\n",
            "extra.yaml": "extra:\n  depth: 4\n",
            "dvc.yaml": PIPELINE,
            "data/part-1.csv": "a\n1\n",
            "data/part-2.csv": "a\n2\n",
            ".gitignore": "/model.txt\n",
        }
    )
    dvc.dvc("add", "-q", "data")
    dvc.commit("project")


project = template_project("run-api", _build)


def test_script_outside_dvc(project: TmpDir, client: Any) -> None:
    run([sys.executable, "train.py"], project.path)
    (only,) = all_runs(client)
    assert only.info.status == "FINISHED"
    assert only.data.tags[tags.KIND] == tags.KIND_SCRIPT
    assert only.data.tags[tags.GIT_COMMIT] == project.git("rev-parse", "HEAD")
    assert only.data.tags[tags.GIT_DIRTY] == "false"
    assert only.data.params["train.lr"] == "0.25"
    assert only.data.params["train.epochs"] == "3"
    assert only.data.metrics == {"acc": 0.5, "loss.final": 0.5}
    experiment = client.get_experiment(only.info.experiment_id)
    assert experiment.name == "project"


def test_stage_under_dvc_repro(project: TmpDir, client: Any) -> None:
    run([dvc_exe(), "repro", "-q"], project.path, env=python_env())
    (stage_run,) = all_runs(client)
    assert stage_run.info.run_name == "train"
    found = stage_run.data.tags
    assert found[tags.KIND] == tags.KIND_STAGE
    assert found[tags.DVC_STAGE] == "train"
    data_hash = json.loads(json.dumps(found))["dvc.dep.data"]
    assert data_hash.endswith(".dir")
    assert data_hash in (project.path / "data.dvc").read_text()
    assert stage_run.data.params == {"train.lr": "0.25", "extra.depth": "4"}
    inputs = {i.dataset.name: i.dataset.digest for i in stage_run.inputs.dataset_inputs}
    assert inputs["data"] == data_hash
    artifacts = {a.path for a in client.list_artifacts(stage_run.info.run_id, "dvflow")}
    assert {"dvflow/dvc.yaml", "dvflow/params.yaml", "dvflow/environment.json"} <= artifacts


def test_logging_without_start_run_starts_a_recorded_run(project: TmpDir, client: Any) -> None:
    project.gen(
        {
            "quick.py": "import dvflow\n"
            "dvflow.log_params({'model': {'kind': 'tree'}})\n"
            "dvflow.log_metrics({'acc': 0.5})\n"
        }
    )
    run([sys.executable, "quick.py"], project.path)
    (only,) = all_runs(client)
    assert only.info.run_name == "quick.py"
    assert only.info.status == "FINISHED"
    assert only.data.tags[tags.KIND] == tags.KIND_SCRIPT
    assert only.data.params["model.kind"] == "tree"
    assert only.data.params["train.lr"] == "0.25"
    assert only.data.metrics == {"acc": 0.5}


def test_failure_ends_the_run_failed(project: TmpDir, client: Any) -> None:
    result = run([sys.executable, "train.py", "fail"], project.path, check=False)
    assert result.returncode != 0
    (failed,) = all_runs(client)
    assert failed.info.status == "FAILED"


def test_attaches_to_mlflow_run_id(project: TmpDir, client: Any, tmp_path: Path) -> None:
    experiment = client.create_experiment("given", artifact_location=tmp_path.as_uri())
    made = client.create_run(experiment, run_name="made-by-parent")
    env = {**python_env(), "MLFLOW_RUN_ID": made.info.run_id}
    run([sys.executable, "train.py"], project.path, env=env)
    (only,) = all_runs(client)
    assert only.info.run_id == made.info.run_id
    assert only.data.metrics["acc"] == 0.5
    assert only.data.tags[tags.KIND] == tags.KIND_SCRIPT


def test_dirty_run_keeps_the_diff(project: TmpDir, client: Any) -> None:
    project.gen({"params.yaml": "train:\n  lr: 0.5\n  epochs: 3\n"})
    run([sys.executable, "train.py"], project.path)
    (only,) = all_runs(client)
    assert only.data.tags[tags.GIT_DIRTY] == "true"
    diff = client.download_artifacts(only.info.run_id, "dvflow/git.diff")
    assert "+  lr: 0.5" in Path(diff).read_text()


def test_secrets_appear_nowhere(project: TmpDir, client: Any, tmp_path: Path) -> None:
    secret = "planted-secret-7f3a9c"
    project.git("remote", "add", "origin", f"https://ci-bot:{secret}@git.example.com/acme/p.git")
    project.dvc("remote", "add", "-d", "store", f"https://user:{secret}@dvc.example.com/cache")
    project.commit("remotes")
    # Untracked files (a .env, a requirements file with an index token) go into the
    # recorded diff and environment: the secrets in them must not.
    project.gen(
        {
            ".env": f"API_KEY={secret}\n",
            "requirements.txt": f"--extra-index-url https://user:{secret}@pypi.acme.dev/simple\n",
        }
    )
    env = {
        **python_env(),
        "MLFLOW_ACME_TOKEN": secret,
        "MLFLOW_TRACKING_PASSWORD": secret,
        "DVC_SECRET": secret,
        "DVC_REMOTE_URL": f"https://u:{secret}@dvc.example.com",
    }
    run([dvc_exe(), "repro", "-q"], project.path, env=env)
    (stage_run,) = all_runs(client)
    assert stage_run.data.tags[tags.GIT_REPO_URL] == "https://git.example.com/acme/p.git"
    recorded = json.dumps(
        [
            stage_run.data.tags,
            stage_run.data.params,
            [i.dataset.source for i in stage_run.inputs.dataset_inputs],
        ]
    )
    assert "dvc.example.com/cache" in recorded
    local = Path(client.download_artifacts(stage_run.info.run_id, "dvflow", str(tmp_path)))
    texts = {p.name: p.read_text(errors="replace") for p in local.rglob("*") if p.is_file()}
    assert "pypi.acme.dev/simple" in texts["requirements.txt"]
    assert "+++ b/requirements.txt" in texts["git.diff"]
    # The credential file is named as left out, its content is not in the patch.
    assert '".env"' in texts["git.diff"] and "+++ b/.env" not in texts["git.diff"]
    assert "dvc.example.com" in texts["environment.json"]
    assert not [name for name, text in texts.items() if secret in text]
    assert secret not in recorded


def _wait_for_queue(project: TmpDir, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    status, next_status = "", 0.0
    while time.monotonic() < deadline:
        # `dvc queue status` costs a second of CPU: ask it once the experiment's run has
        # ended in the store, and every few seconds in case the experiment never starts.
        if _a_run_ended(project.path / "mlflow.db") or time.monotonic() >= next_status:
            status = project.dvc("queue", "status").stdout
            if "Queued" not in status and "Running" not in status:
                return
            next_status = time.monotonic() + 10
        time.sleep(0.2)
    pytest.fail(f"the DVC queue did not finish:\n{status}")


def _a_run_ended(db: Path) -> bool:
    """Whether a run of the SQLite store ``db`` has ended. Read-only: never creates or
    migrates the store that the queued experiment is writing."""
    if not db.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as store:
            ended = store.execute("SELECT count(*) FROM runs WHERE status != 'RUNNING'")
            return bool(ended.fetchone()[0])
    except sqlite3.Error:  # not created or migrated yet, or busy
        return False


@pytest.mark.slow
def test_queued_experiment_records_into_the_project_store(project: TmpDir) -> None:
    from mlflow import MlflowClient

    env = python_env()
    del env["MLFLOW_TRACKING_URI"]  # the default store: <project>/mlflow.db
    # The queue runs in a temporary copy under .dvc/tmp/exps; the runs must land in the
    # original project's store, not in the copy DVC deletes afterwards.
    client = MlflowClient(f"sqlite:///{project.path / 'mlflow.db'}")
    run(
        [dvc_exe(), "exp", "run", "--queue", "--name", "lr-high", "-S", "train.lr=0.75"],
        project.path,
        env=env,
    )
    result = subprocess.run(
        [dvc_exe(), "queue", "start"],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    _wait_for_queue(project)
    logs = project.dvc("queue", "logs", "lr-high", check=False)
    runs = all_runs(client)
    assert len(runs) == 1, logs.stdout + logs.stderr
    (exp_run,) = runs
    assert exp_run.info.status == "FINISHED"
    assert exp_run.data.tags[tags.DVC_EXP_NAME] == "lr-high"
    assert exp_run.data.tags[tags.DVC_EXP_BASELINE] == project.git("rev-parse", "HEAD")
    assert exp_run.data.params["train.lr"] == "0.75"
    assert exp_run.data.metrics["acc"] == 1.5
    experiment = client.get_experiment(exp_run.info.experiment_id)
    assert experiment.name == "project"


def test_stage_with_a_wdir_finds_its_params(project: TmpDir, client: Any) -> None:
    project.gen(
        {
            "work/step.py": "import dvflow\nwith dvflow.start_run():\n"
            "    dvflow.log_metrics({'lr': dvflow.params()['train']['lr']})\n",
            "dvc.yaml": PIPELINE + "  step:\n    wdir: work\n    cmd: python step.py\n"
            "    deps: [step.py]\n    params: [{../params.yaml: [train.lr]}]\n",
        }
    )
    project.commit("a stage in a sub-folder")
    run([dvc_exe(), "repro", "step"], project.path, env=python_env())
    (step,) = all_runs(client)
    assert step.data.tags[tags.DVC_STAGE] == "step"
    assert step.data.params == {"train.lr": "0.25"}
    assert step.data.metrics == {"lr": 0.25}

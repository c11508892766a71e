"""Fixtures in the style of DVC's own: real git, real DVC, real MLflow, in tmp_path.

Every test gets its own SQLite tracking store, copied from one migrated template so
that MLflow's schema migrations run once per session, not once per test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dvflow import env

# Variables that a developer's shell (or DVC itself) may have set and that would leak
# into the code under test.
_CLEARED = (
    env.MLFLOW_TRACKING_URI,
    env.MLFLOW_EXPERIMENT_NAME,
    env.MLFLOW_EXPERIMENT_ID,
    env.MLFLOW_RUN_ID,
    env.MLFLOW_RUN_CONTEXT,
    env.DVFLOW_EXPERIMENT,
    env.DVFLOW_INVOCATION,
    *env.DVC_CONTEXT_VARIABLES,
)


def run(
    cmd: list[str], cwd: Path, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output if it fails."""
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def dvc_exe() -> str:
    return str(Path(sys.executable).with_name("dvc"))


def dvflow_exe() -> str:
    return str(Path(sys.executable).with_name("dvflow"))


class TmpDir:
    """A project folder with helpers to write files and commit them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def gen(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def git(self, *args: str) -> str:
        return run(["git", *args], self.path).stdout.strip()

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([dvc_exe(), *args], self.path, check=check)

    def commit(self, message: str = "commit") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dvflow.tracking.store import ensure_store

    folder = tmp_path_factory.mktemp("store-template")
    ensure_store(f"sqlite:///{folder / 'mlflow.db'}", folder / "mlartifacts")
    return folder / "mlflow.db"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "dvflow tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@dvflow.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "dvflow tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@dvflow.invalid")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    yield
    if "mlflow" in sys.modules:
        import mlflow

        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture
def tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TmpDir:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return TmpDir(project)


@pytest.fixture
def scm(tmp_dir: TmpDir) -> TmpDir:
    tmp_dir.git("init", "-q", "-b", "main")
    return tmp_dir


@pytest.fixture
def dvc(scm: TmpDir) -> TmpDir:
    scm.dvc("init", "-q")
    scm.dvc("config", "core.autostage", "false")
    scm.commit("init dvc")
    return scm


@pytest.fixture
def tracking_uri(tmp_path: Path, store_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ready per-test SQLite store, given to everything through MLFLOW_TRACKING_URI."""
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(store_template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    monkeypatch.setenv(env.MLFLOW_TRACKING_URI, uri)
    return uri


@pytest.fixture
def client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def all_runs(client: Any) -> list[Any]:
    """Every run in every experiment of the store."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(experiments, max_results=1000))


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess whose stage commands say `python`: this
    interpreter comes first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **extra}


def dvflow(tmp: TmpDir, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real `dvflow` command in a project."""
    return run([dvflow_exe(), *args], tmp.path, check=check, env=python_env())

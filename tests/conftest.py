"""Fixtures in the style of DVC's own: real git, real DVC, real MLflow, in tmp_path.

Every test gets its own SQLite tracking store, copied from one migrated template so
that MLflow's schema migrations run once per session, not once per test.

A test writes only inside its temporary folder: HOME (so ~/.gitconfig, ~/.config,
~/.cache) points at a session folder, and a test that leaves anything new in this
repository's tree fails (MLflow's default ``./mlruns`` once got committed that way).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
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
    env.DVFLOW_STAGE_RUN_FILE,
    env.DVFLOW_RECORDER_PID,
    env.DVFLOW_SYSTEM_METRICS,
    *env.DVC_CONTEXT_VARIABLES,
)


REPOSITORY = Path(__file__).resolve().parent.parent
# The environment the session started with, before any test changed HOME or GIT_*:
# the repository listing is always made the same way.
_SESSION_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}

# What running the tools leaves in the repository on purpose: not a leak.
TOOL_CACHES = (
    ".venv*",
    ".pytest_cache",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".logs",
    "*.egg-info",
)


def tree_listing(root: Path) -> dict[str, int]:
    """Every changed, untracked or ignored path git sees in ``root`` (the tools' caches
    left out), with a stamp of when it last changed: a test that adds a line here, or
    changes a stamp, wrote into the repository.

    ``--ignored=matching`` shows an ignored folder without walking into it (the
    default walks all of .venv: 100 ms a call), so a folder's stamp covers the folders
    inside it (a new file changes its folder's mtime). ``--no-optional-locks`` keeps git
    from refreshing the index, which would race with a developer's own git commands.
    """
    out = subprocess.run(
        [
            *("git", "--no-optional-locks", "status", "--porcelain", "-z"),
            # Every untracked file, not just its folder: a file added to an untracked
            # folder (mlruns/ after a first leak) is a new line too.
            *("--ignored=matching", "--untracked-files=all"),
        ],
        cwd=root,
        capture_output=True,
        check=True,
        env=_SESSION_ENV,
    ).stdout
    entries = [e for e in out.decode(errors="replace").split("\0") if len(e) > 3]
    return {e: _stamp(root / e[3:]) for e in entries if not _is_tool_cache(e[3:])}


def _stamp(path: Path) -> int:
    try:
        if not path.is_dir():
            return path.lstat().st_mtime_ns
        return hash(tuple((top, Path(top).stat().st_mtime_ns) for top, _, _ in os.walk(path)))
    except OSError:  # deleted meanwhile
        return -1


def _is_tool_cache(path: str) -> bool:
    return any(
        fnmatch.fnmatch(part, pattern) for part in path.split("/") for pattern in TOOL_CACHES
    )


@pytest.fixture(scope="session")
def repository() -> Path | None:
    """This checkout's root, or None when the tests do not run from a git checkout."""
    found = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    top = found.stdout.strip()
    return REPOSITORY if found.returncode == 0 and Path(top).resolve() == REPOSITORY else None


@pytest.fixture(autouse=True)
def no_writes_into_the_repository(repository: Path | None) -> Iterator[None]:
    """Fail the test that left a new file (or changed one) in the repository.

    Under xdist a leak can also fail the test that ran beside it on the other worker;
    the test that really wrote is the one that keeps failing.
    """
    if repository is None:
        yield
        return
    before = tree_listing(repository)
    yield
    after = tree_listing(repository)
    leaked = [
        entry if entry not in before else f"{entry} (written inside)"
        for entry, stamp in sorted(after.items())
        if before.get(entry) != stamp
    ]
    if leaked:
        pytest.fail(
            f"the test wrote into the repository {repository}: {', '.join(leaked)}. "
            "Write under tmp_path (MLflow: give an artifact location, or chdir there).",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME for every test: git's global config, DVC's and matplotlib's user folders
    land here, never in the user's home."""
    return tmp_path_factory.mktemp("home")


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
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, session_home: Path
) -> Iterator[None]:
    # Relative paths land in the test's own folder: MLflow's default artifact root is
    # ./mlruns, DVC's and git's commands act on the current folder.
    monkeypatch.chdir(tmp_path)
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(session_home))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "GIT_CONFIG_GLOBAL"):
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


def session_environ(session_home: Path) -> dict[str, str]:
    """The environment a session-scoped fixture runs commands in: what ``isolated_env``
    gives each test (the session HOME, a git identity, no analytics, none of the
    variables a shell may have set), with this interpreter first on PATH."""
    environ = {k: v for k, v in python_env().items() if k not in _CLEARED}
    environ.update(HOME=str(session_home), DVC_NO_ANALYTICS="1")
    for role in ("AUTHOR", "COMMITTER"):
        environ[f"GIT_{role}_NAME"] = "dvflow tests"
        environ[f"GIT_{role}_EMAIL"] = "tests@dvflow.invalid"
    return environ


@contextlib.contextmanager
def session_context(session_home: Path, cwd: Path) -> Iterator[None]:
    """``session_environ`` as this process's environment, and ``cwd`` as its folder,
    while a session-scoped fixture builds something in-process."""
    with pytest.MonkeyPatch.context() as mp:
        for variable in _CLEARED:
            mp.delenv(variable, raising=False)
        for variable, value in session_environ(session_home).items():
            mp.setenv(variable, value)
        mp.chdir(cwd)
        yield


def copy_project(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TmpDir:
    """A test's own copy of a project made once per session, as its working folder."""
    target = tmp_path / "project"
    shutil.copytree(template, target, symlinks=True)
    monkeypatch.chdir(target)
    return TmpDir(target)


@pytest.fixture(scope="session")
def dvc_template(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> Path:
    """A git repository with DVC initialised and committed, made once: ``dvc init`` and
    ``dvc config`` each pay DVC's import, a second of CPU, in every test otherwise."""
    root = tmp_path_factory.mktemp("dvc-template") / "project"
    root.mkdir()
    environ = session_environ(session_home)
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        [dvc_exe(), "init", "-q"],
        [dvc_exe(), "config", "core.autostage", "false"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "init dvc"],
    ):
        run(cmd, root, env=environ)
    return root


@pytest.fixture
def dvc(dvc_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TmpDir:
    """A committed git + DVC project of the test's own (a copy of ``dvc_template``)."""
    return copy_project(dvc_template, tmp_path, monkeypatch)


Builder = Callable[[TmpDir], None]


@pytest.fixture(scope="session")
def project_template(
    tmp_path_factory: pytest.TempPathFactory, session_home: Path, dvc_template: Path
) -> Callable[[str, Builder], Path]:
    """``project_template(name, build)``: the project ``build`` makes from a copy of
    ``dvc_template``, made once per session (per xdist worker) and copied by each test
    (``copy_project``). For set-ups of git and DVC only (``dvc add``, ``dvc repro``):
    a run recorded in a store would name the template's paths."""
    made: dict[str, Path] = {}

    def template(name: str, build: Builder) -> Path:
        if name not in made:
            root = tmp_path_factory.mktemp(name) / "project"
            shutil.copytree(dvc_template, root, symlinks=True)
            with session_context(session_home, root):
                build(TmpDir(root))
            made[name] = root
        return made[name]

    return template


def template_project(name: str, build: Builder) -> Any:
    """A module's ``project`` fixture: its own copy of the project ``build`` makes
    (``project_template``), with the test's own tracking store."""

    @pytest.fixture
    def project(
        project_template: Callable[[str, Builder], Path],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        tracking_uri: str,
    ) -> TmpDir:
        return copy_project(project_template(name, build), tmp_path, monkeypatch)

    return project


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

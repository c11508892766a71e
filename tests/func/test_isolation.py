"""The tests keep to their temporary folders; the scripts leave git config alone."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPOSITORY, run

LEAKY_TESTS = """
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def test_leaks_an_mlflow_store():
    (ROOT / "mlruns" / "0").mkdir(parents=True)
    (ROOT / "mlruns" / "0" / "meta.yaml").write_text("leak")


def test_leaks_into_a_folder_an_earlier_leak_left():
    (ROOT / "mlruns" / "0" / "run-2").mkdir()
    (ROOT / "mlruns" / "0" / "run-2" / "artifact.json").write_text("{}")


def test_writes_into_an_existing_ignored_folder():
    (ROOT / "mlartifacts" / "1").mkdir(parents=True)


def test_writes_in_tmp_path(tmp_path):
    (tmp_path / "mlruns").mkdir()


def test_writes_a_tool_cache():
    (ROOT / ".ruff_cache").mkdir()
"""


def test_a_test_that_writes_into_the_repository_fails(tmp_path: Path) -> None:
    # A copy of this test suite's set-up in a repository of its own, so that the leak
    # planted here cannot be seen by tests running beside it.
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    for name in ("__init__.py", "conftest.py"):
        shutil.copy(REPOSITORY / "tests" / name, repo / "tests" / name)
    (repo / "tests" / "test_leaky.py").write_text(LEAKY_TESTS)
    (repo / ".gitignore").write_text("mlartifacts/\n__pycache__/\n.ruff_cache/\n")
    (repo / "mlartifacts" / "0").mkdir(parents=True)  # a developer's own, already there
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tests"], repo)
    result = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q"],
        repo,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "5 passed, 3 errors" in result.stdout, result.stdout
    assert "ERROR tests/test_leaky.py::test_leaks_an_mlflow_store" in result.stdout
    assert "ERROR tests/test_leaky.py::test_leaks_into_a_folder_an_earlier_leak_left" in (
        result.stdout
    )
    assert f"the test wrote into the repository {repo}: ?? mlruns/0/meta.yaml" in result.stdout
    assert "ERROR tests/test_leaky.py::test_writes_into_an_existing_ignored_folder" in result.stdout
    assert f"{repo}: !! mlartifacts/ (written inside)." in result.stdout


def test_git_global_config_is_not_the_users(session_home: Path, tmp_path: Path) -> None:
    run(["git", "config", "--global", "dvflow.probe", "written"], tmp_path)
    assert Path.home() == session_home
    assert "dvflow.probe = written" not in _real_global_git_config()
    assert "probe = written" in (session_home / ".gitconfig").read_text()
    run(["git", "config", "--global", "--unset", "dvflow.probe"], tmp_path)


def _real_global_git_config() -> str:
    import pwd

    config = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".gitconfig"
    return config.read_text() if config.is_file() else ""


def _identity_after_sourcing(home: Path, *, configured: str | None = None) -> dict[str, str]:
    """The GIT_* variables scripts/git-identity.sh leaves in a shell whose HOME is
    ``home`` and whose environment names no git identity."""
    if configured:
        (home / ".gitconfig").write_text(configured)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    script = (
        'source scripts/git-identity.sh && give_git_an_identity "dvflow tests" t@x.invalid && env'
    )
    out = run(["bash", "-c", script], REPOSITORY, env=env).stdout
    return dict(
        line.split("=", 1) for line in out.splitlines() if line.startswith("GIT_") and "=" in line
    )


def test_scripts_give_git_an_identity_without_writing_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    identity = _identity_after_sourcing(home)
    assert identity == {
        "GIT_AUTHOR_NAME": "dvflow tests",
        "GIT_COMMITTER_NAME": "dvflow tests",
        "GIT_AUTHOR_EMAIL": "t@x.invalid",
        "GIT_COMMITTER_EMAIL": "t@x.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    assert list(home.iterdir()) == []  # no ~/.gitconfig written
    # The identity is enough for a commit in a new repository.
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(identity, HOME=str(home))
    run(["git", "init", "-q"], project, env=env)
    run(["git", "commit", "-q", "--allow-empty", "-m", "first"], project, env=env)
    log = run(["git", "log", "--format=%an <%ae>"], project, env=env).stdout
    assert log.strip() == "dvflow tests <t@x.invalid>"
    assert list(home.iterdir()) == []


def test_scripts_keep_the_identity_git_has(tmp_path: Path) -> None:
    config = "[user]\n\tname = Ada\n\temail = ada@example.com\n"
    identity = _identity_after_sourcing(tmp_path, configured=config)
    assert identity == {"GIT_CONFIG_NOSYSTEM": "1"}
    assert (tmp_path / ".gitconfig").read_text() == config


def test_scripts_write_no_git_config() -> None:
    for script in ("scripts/test.sh", "scripts/demo.sh", ".ci/run"):
        text = (REPOSITORY / script).read_text()
        assert "git config --global" not in text, script
        assert "give_git_an_identity" in text or script == ".ci/run", script
    assert subprocess.run(["bash", "-n", "scripts/test.sh"], cwd=REPOSITORY).returncode == 0


@pytest.mark.slow  # a migrated MLflow store: seconds
def test_a_test_runs_in_its_own_folder(client: Any, tmp_path: Path) -> None:
    # MLflow puts an experiment created without an artifact location under ./mlruns.
    experiment = client.get_experiment(client.create_experiment("no-artifact-location"))
    assert Path.cwd() == tmp_path
    location = experiment.artifact_location.removeprefix("file://")
    assert location == str(tmp_path / "mlruns" / experiment.experiment_id)

"""`dvflow init`: a new project that runs end to end, and adopting an existing folder."""

import hashlib
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

import dvflow
from dvflow.errors import DvflowError
from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow_exe, python_env, run
from tests.conftest import dvflow as dvflow_cmd

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

TEMPLATE = Path(dvflow.__file__).parent / "apps" / "templates" / "project"
TOKENS = (b"__PROJECT_NAME__", b"__REQUIREMENTS__")
STAGES = {"process_data", "featurize", "train", "evaluate"}
RAW = "data/raw/breast_cancer.csv"


def _template_files() -> set[str]:
    return {
        p.relative_to(TEMPLATE).as_posix()
        for p in TEMPLATE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _init(
    cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run([dvflow_exe(), "init", *args], cwd, check=check, env=env or python_env())


def _tree(root: Path, *, with_git: bool = False) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and (with_git or ".git" not in p.relative_to(root).parts)
    }


def _files_with_tokens(root: Path) -> list[str]:
    return [name for name, data in _tree(root).items() if any(t in data for t in TOKENS)]


def _git(root: Path, *args: str) -> str:
    return run(["git", *args], root).stdout.strip()


def test_init_creates_a_committed_project(tmp_path: Path) -> None:
    # A user without any git identity: the first commit still works, config untouched.
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in python_env().items() if not k.startswith(("GIT_", "EMAIL"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    result = _init(tmp_path, "churn", "--json", env=env)
    report = json.loads(result.stdout)  # progress went to stderr: stdout is pure JSON
    for step in ("git init", "dvc init", f"dvc add {RAW}", "first commit"):
        assert f"dvflow: {step}" in result.stderr
    root = tmp_path / "churn"
    assert report["path"] == str(root.resolve()) and report["name"] == "churn"

    # The whole template, and the layout the project's README describes.
    assert set(report["created"]) == _template_files()
    assert report["kept"] == [] and report["updated"] == []
    for path in (
        *_template_files(),
        "data/raw",
        "data/processed",
        "data/features",
        "models",
        "plots",
        "notebooks/explore.ipynb",
        "tests/conftest.py",
        RAW,
        f"{RAW}.dvc",
        ".dvc/config",
    ):
        assert (root / path).exists(), path
    assert _files_with_tokens(root) == []
    assert (root / "README.md").read_text().startswith("# churn\n")
    # dvc init kept the template's .dvcignore.
    assert (root / ".dvcignore").read_bytes() == (TEMPLATE / ".dvcignore").read_bytes()

    requirements = (root / "requirements.txt").read_text().splitlines()
    for name in ("dvflow", "dvc", "mlflow", "scikit-learn", "pandas", "matplotlib", "pytest"):
        assert f"{name}=={version(name)}" in requirements

    # One commit on main that holds everything, the raw data as a .dvc file only.
    assert _git(root, "rev-list", "--count", "HEAD") == "1"
    assert _git(root, "log", "-1", "--format=%s") == "Create project with dvflow init"
    assert _git(root, "log", "-1", "--format=%an <%ae>") == "dvflow <dvflow@localhost>"
    assert list(home.iterdir()) == []  # no ~/.gitconfig written
    assert _git(root, "branch", "--show-current") == "main"
    assert report["commit"] == _git(root, "rev-parse", "HEAD")
    assert _git(root, "status", "--porcelain") == ""
    tracked = set(_git(root, "ls-files").splitlines())
    assert {f"{RAW}.dvc", "data/raw/.gitignore", ".dvc/config", "dvc.yaml"} <= tracked
    assert RAW not in tracked
    assert run(["git", "check-ignore", "-q", RAW], root, check=False).returncode == 0
    dvc_file = yaml.safe_load((root / f"{RAW}.dvc").read_text())
    csv = (root / RAW).read_bytes()
    assert dvc_file["outs"][0]["md5"] == hashlib.md5(csv).hexdigest()
    header, *rows = csv.decode().splitlines()
    assert header.split(",")[-1] == "target" and len(rows) == 569
    assert report["git_initialised"] and report["dvc_initialised"] and report["dataset_added"]


@pytest.mark.slow
def test_generated_project_runs_and_its_tests_pass(tmp_path: Path, client: Any) -> None:
    result = _init(tmp_path, "proj")
    assert "Created dvflow project proj" in result.stdout
    assert "cd proj" in result.stdout and "dvflow repro" in result.stdout
    assert "dvflow: first commit" in result.stderr and "dvflow:" not in result.stdout
    project = TmpDir(tmp_path / "proj")

    dvflow_cmd(project, "repro")
    runs = all_runs(client)
    parents = [r for r in runs if r.data.tags.get(tags.KIND) == tags.KIND_PIPELINE]
    stages = {r.data.tags[tags.DVC_STAGE]: r for r in runs if r.data.tags.get(tags.KIND) == "stage"}
    assert len(parents) == 1 and len(runs) == 1 + len(STAGES)
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    assert set(stages) == STAGES
    for run_ in stages.values():
        assert run_.info.status == "FINISHED"
        assert run_.data.tags[tags.PARENT_RUN_ID] == parent.info.run_id
    train = stages["train"].data
    assert {"train.accuracy", "test.accuracy", "test.f1_macro"} <= set(train.metrics)
    assert 0.85 < train.metrics["test.accuracy"] <= 1.0
    assert train.params["train.n_estimators"] == "100"
    assert stages["process_data"].data.tags[f"dvc.dep.{RAW}"]
    assert json.loads((project.path / "metrics.json").read_text())["test"]["accuracy"] == (
        pytest.approx(train.metrics["test.accuracy"])
    )

    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project.path)
    assert " passed" in tests.stdout and "failed" not in tests.stdout


def test_here_adds_only_what_is_missing_and_twice_changes_nothing(scm: TmpDir) -> None:
    mine = {
        "README.md": "# My project\n\nOur notes.\n",
        "params.yaml": "train:\n  lr: 0.1\n",
        ".gitignore": "*.log\nmlflow.db",  # no final newline
    }
    scm.gen(mine)
    head = scm.commit("my project")
    scm.gen({"README.md": mine["README.md"] + "Uncommitted work.\n", "notes.txt": "draft\n"})
    before = _tree(scm.path)

    report = json.loads(_init(scm.path, "--here", "--json").stdout)

    after = _tree(scm.path)
    for name in ("README.md", "params.yaml", "notes.txt"):
        assert after[name] == before[name], f"{name} was changed"
    gitignore = after[".gitignore"].decode()
    assert gitignore.startswith(mine[".gitignore"] + "\n")
    patterns = gitignore.splitlines()
    assert "mlartifacts/" in patterns and patterns.count("mlflow.db") == 1
    assert {"README.md", "params.yaml"} <= set(report["kept"])
    assert report["updated"] == [".gitignore"]
    assert set(report["created"]) == _template_files() - set(report["kept"]) - {".gitignore"}
    assert {"dvc.yaml", "src/train_model.py", "requirements.txt"} <= set(report["created"])
    assert all((scm.path / name).is_file() for name in report["created"])
    assert _files_with_tokens(scm.path) == []
    assert not report["git_initialised"] and report["dvc_initialised"]
    assert report["dataset_added"] and (scm.path / f"{RAW}.dvc").is_file()
    assert report["commit"] is None
    assert any("params.yaml" in note and "train.n_estimators" in note for note in report["notes"])
    assert {"src/", "dvc.yaml", ".gitignore", ".dvc/", "data/"} <= set(report["git_add"])
    # Nothing committed; the uncommitted edit is still there.
    assert scm.git("rev-parse", "HEAD") == head
    assert " M README.md" in scm.git("status", "--porcelain").splitlines()

    snapshot = _tree(scm.path, with_git=True)
    again = _init(scm.path, "--here")
    assert "Nothing to add" in again.stdout
    report2 = json.loads(_init(scm.path, "--here", "--json").stdout)
    assert _tree(scm.path, with_git=True) == snapshot
    assert report2["created"] == report2["updated"] == report2["git_add"] == []
    assert set(report2["kept"]) == _template_files()
    assert report2["pipeline_kept"]
    assert not (report2["git_initialised"] or report2["dvc_initialised"])
    assert not report2["dataset_added"]


def test_here_keeps_an_existing_pipeline(dvc: TmpDir) -> None:
    dvc.gen({"dvc.yaml": "stages:\n  hello:\n    cmd: echo hi\n"})
    dvc.commit("my pipeline")
    pipeline = (dvc.path / "dvc.yaml").read_bytes()

    report = json.loads(_init(dvc.path, "--here", "--json").stdout)

    assert (dvc.path / "dvc.yaml").read_bytes() == pipeline
    assert report["pipeline_kept"] and not report["dataset_added"]
    assert not (report["git_initialised"] or report["dvc_initialised"])
    assert not (dvc.path / RAW).exists()
    # Only what any project needs; the starter pipeline's files would be orphans here.
    support = {".gitignore", ".dockerignore", "Dockerfile", "requirements.txt"}
    assert set(report["created"]) == support
    assert report["updated"] == [".dvcignore"]  # DVC's own one lacked the template's patterns
    assert "src/train_model.py" in report["skipped"] and not (dvc.path / "src").exists()


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("mine\n")
    (tmp_path / "afile").write_text("a file\n")
    before = _tree(tmp_path)

    for name, expected in (("existing", "is not empty"), ("afile", "is a file")):
        result = _init(tmp_path, name, check=False)
        assert result.returncode == 5
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("dvflow: error:") and expected in result.stderr
        assert result.stdout == ""
    assert "dvflow init --here" in _init(tmp_path, "existing", check=False).stderr
    assert _tree(tmp_path) == before

    usage = _init(tmp_path, check=False)
    assert usage.returncode == 2 and "--here" in usage.stderr


def test_a_failed_step_removes_the_new_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dvflow.apps.scaffold import create_project

    false = shutil.which("false")
    assert false is not None
    monkeypatch.setattr(sys, "executable", false)  # the data set script fails
    with pytest.raises(DvflowError, match=r"make_dataset\.py failed"):
        create_project(tmp_path / "broken")
    assert not (tmp_path / "broken").exists()

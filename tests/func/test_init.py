"""`dvflow init`: a new project that runs end to end, and adopting an existing folder."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

import dvflow
from dvflow.apps.requirements import installed_requirement, requirement_from_origin
from dvflow.errors import DvflowError
from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow_exe, python_env, run
from tests.conftest import dvflow as dvflow_cmd

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

TEMPLATE = Path(dvflow.__file__).parent / "apps" / "templates" / "project"
TOKENS = (b"__PROJECT_NAME__", b"__REQUIREMENTS__")
STAGES = {"process_data", "featurize", "train", "evaluate"}
STARTER = ("dvflow", "dvc", "mlflow", "scikit-learn", "pandas", "matplotlib", "pytest")
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


def _assert_installable_requirements(path: Path, names: tuple[str, ...]) -> None:
    """Every line is a requirement pip can resolve away from this machine; dvflow,
    installed here from a local checkout, is named in a comment with its source."""
    from packaging.requirements import Requirement

    text = path.read_text()
    listed = {
        Requirement(line).name: line
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    }
    dvflow_origin = installed_requirement("dvflow")
    for name in names:
        if name == "dvflow" and dvflow_origin.line is None:
            # The bug this guards against: `dvflow==0.1.0`, which no index has.
            assert "dvflow" not in listed
            assert f"pip install {dvflow_origin.source}" in text
        else:
            assert listed.pop(name) == installed_requirement(name).line
    assert not set(listed) - set(names), f"unexpected requirements: {listed}"


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

    _assert_installable_requirements(root / "requirements.txt", STARTER)

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

    # The `pytest` command, not `python -m pytest`: nothing but the project's own
    # settings puts its root on the import path.
    pytest_exe = str(Path(sys.executable).with_name("pytest"))
    tests = run([pytest_exe, "-q", "-p", "no:cacheprovider"], project.path)
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    # Editing the module that writes metrics and plots re-runs only the stages that
    # import it; the data stages stay up to date.
    project.commit("first run")
    with (project.path / "src" / "reporting.py").open("a") as file:
        file.write("\n# a change\n")
    status = json.loads(project.dvc("status", "--json").stdout)
    assert set(status) == {"train", "evaluate"}


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
    # What any dvflow project needs, not the starter pipeline's libraries.
    _assert_installable_requirements(dvc.path / "requirements.txt", ("dvflow", "dvc", "mlflow"))


def test_here_keeps_the_dependencies_a_project_declares(scm: TmpDir) -> None:
    pyproject = (
        '[project]\nname = "mine"\ndependencies = ["pandas>=2", "mlflow"]\n\n'
        '[tool.pytest.ini_options]\naddopts = "-q"\n'
    )
    scm.gen({"pyproject.toml": pyproject, "requirements-dev.txt": "ruff\n"})
    scm.commit("my project")

    report = json.loads(_init(scm.path, "--here", "--json").stdout)

    # One list of dependencies: the project's. No second one to drift from it.
    assert (scm.path / "pyproject.toml").read_text() == pyproject
    assert not (scm.path / "requirements.txt").exists()
    assert not (scm.path / "Dockerfile").exists()
    assert {"requirements.txt", "Dockerfile", "pyproject.toml"} <= set(
        report["skipped"] + report["kept"]
    )
    (note,) = [n for n in report["notes"] if "dependencies are declared" in n]
    assert "pyproject.toml, requirements-dev.txt" in note
    assert f"dvc=={version('dvc')}" in note and "scikit-learn" in note
    assert "mlflow==" not in note and "pandas" not in note  # the project has them
    assert any("pythonpath" in n for n in report["notes"])  # its pytest settings win

    snapshot = _tree(scm.path, with_git=True)
    again = json.loads(_init(scm.path, "--here", "--json").stdout)
    assert _tree(scm.path, with_git=True) == snapshot
    assert again["created"] == again["git_add"] == []
    assert note in again["notes"]


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


def _imported_project_modules(script: Path) -> set[str]:
    import ast

    tree = ast.parse(script.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {f"{name.replace('.', '/')}.py" for name in names if name.startswith("src.")}


def test_stages_run_as_modules_and_depend_on_what_they_import() -> None:
    pipeline = yaml.safe_load((TEMPLATE / "dvc.yaml").read_text())["stages"]
    assert set(pipeline) == STAGES
    for name, stage in pipeline.items():
        # `python -m` from the project root: the stages import `src.*` as they are.
        module = stage["cmd"].removeprefix("python -m ")
        assert stage["cmd"].startswith("python -m src."), name
        script = f"{module.replace('.', '/')}.py"
        deps = {d for d in stage["deps"] if d.endswith(".py")}
        # Exactly the project modules the stage imports: editing one re-runs only
        # the stages that use it, and no stage misses a change to code it runs.
        assert deps == {script} | _imported_project_modules(TEMPLATE / script), name
    assert {n for n, s in pipeline.items() if "src/reporting.py" in s["deps"]} == {
        "train",
        "evaluate",
    }
    for path in TEMPLATE.rglob("*.py"):
        assert "sys.path" not in path.read_text(), path


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in joined.splitlines()
        if line.strip()
    ]


def test_dockerfile_builds_without_dvflow_on_an_index(tmp_path: Path) -> None:
    text = (TEMPLATE / "Dockerfile").read_text()
    instructions = _dockerfile_instructions(text)
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))

    (base,) = [args for name, args in instructions if name == "FROM"]
    # A full version (or a digest), never a moving tag such as python:3.11-slim.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1] not in {"root", "0"} and not users[-1].startswith("0:")
    assert "safe.directory" not in text
    args = {a.split("=", 1)[0]: a.partition("=")[2] for n, a in instructions if n == "ARG"}
    assert args == {"DVFLOW_SPEC": "dvflow", "DVC_EXTRAS": ""}
    for name in args:  # documented where a user reads it, with an example
        assert f"--build-arg {name}=" in comments
    assert "DVFLOW_SPEC" in (TEMPLATE / "README.md").read_text()

    # The RUN lines that install, run by sh with a `pip` that prints its arguments.
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "pip").write_text('#!/bin/sh\necho "$@"\n')
    (shim / "pip").chmod(0o755)
    installs = [args for name, args in instructions if name == "RUN" and "pip install" in args]

    def pip_args(**build_args: str) -> str:
        env = {"PATH": f"{shim}:/usr/bin:/bin", **args, **build_args}
        script = "\n".join(installs)
        return run(["sh", "-c", script], tmp_path, env=env).stdout

    assert pip_args() == "install -r requirements.txt\ninstall dvflow\n"
    wheel = "./dvflow-0.1.0-py3-none-any.whl"
    assert pip_args(DVC_EXTRAS="s3,ssh", DVFLOW_SPEC=wheel) == (
        f"install -r requirements.txt dvc[s3,ssh]\ninstall {wheel}\n"
    )


def _dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or a folder above it wins;
    ``*`` stays within a folder, ``**`` spans folders, ``!`` re-includes."""

    def regex(pattern: str) -> re.Pattern[str]:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] in "*?":
                out, i = out + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out, i = out + pattern[i : end + 1], end + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out + r"\Z")

    parts = path.split("/")
    candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = os.path.normpath(raw.removeprefix("!")).lstrip("/")
        if any(regex(pattern).match(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_local_state_and_outputs_out() -> None:
    patterns = [
        line.strip()
        for line in (TEMPLATE / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    left_out = [
        "mlflow.db",
        "mlartifacts/1/abc/artifacts/plots/cm.png",
        "mlruns/0/meta.yaml",
        ".dvc/cache/files/md5/ab/cdef",
        ".dvc/tmp/rwlock",
        ".dvc/config.local",  # may hold the remote's credentials
        ".venv/bin/python",
        ".env",
        "src/__pycache__/train_model.cpython-311.pyc",
        "tests/__pycache__/conftest.cpython-311.pyc",
        "data/processed/train.csv",
        "data/features/test.csv",
        "models/model.pkl",
    ]
    kept = [
        ".git/HEAD",  # dvflow records the commit
        ".dvc/config",
        "dvc.yaml",
        "dvc.lock",
        "params.yaml",
        "requirements.txt",
        "src/train_model.py",
        "data/raw/breast_cancer.csv",
        "data/raw/breast_cancer.csv.dvc",
        "data/processed/.gitignore",  # tracked by git: without it the tree is dirty
        "models/.gitignore",
        "models/.gitkeep",
        "metrics.json",
    ]
    assert [p for p in left_out if not _dockerignore_excludes(p, patterns)] == []
    assert [p for p in kept if _dockerignore_excludes(p, patterns)] == []


@pytest.mark.parametrize(
    ("origin", "line", "source"),
    [
        (None, "dvflow==0.1.0", None),
        (
            {
                "url": "https://tok@github.com/o/dvflow",
                "vcs_info": {"vcs": "git", "commit_id": "ab1"},
            },
            "dvflow @ git+https://github.com/o/dvflow@ab1",
            None,
        ),
        (
            {"url": "https://files.example/dvflow-0.1.0.tar.gz", "archive_info": {}},
            "dvflow @ https://files.example/dvflow-0.1.0.tar.gz",
            "https://files.example/dvflow-0.1.0.tar.gz",
        ),
        ({"url": "file:///src/dvflow", "dir_info": {"editable": True}}, None, "/src/dvflow"),
        (
            {"url": "file:///w/dvflow-0.1.0-py3-none-any.whl", "archive_info": {}},
            None,
            "/w/dvflow-0.1.0-py3-none-any.whl",
        ),
    ],
)
def test_dvflow_is_required_as_it_can_be_installed(
    origin: Any, line: str | None, source: str | None
) -> None:
    requirement = requirement_from_origin("dvflow", "0.1.0", origin)
    assert (requirement.line, requirement.source) == (line, source)

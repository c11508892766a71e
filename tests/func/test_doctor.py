"""`dvflow doctor`: for every check, a project where it passes (the `dvflow init`
project, unchanged) and one where it does not; `--fix`, `--json` and the exit code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dvflow.doctor import run_doctor
from tests.conftest import TmpDir, dvflow, run, session_context

pytestmark = pytest.mark.slow  # real git and dvc; the init project runs `dvc add`

BIG = 6 * 1024 * 1024  # past LARGE_FILE_BYTES


@pytest.fixture(scope="session")
def init_project(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> Path:
    """One `dvflow init` project, made once and copied by every test."""
    from dvflow.apps.scaffold import create_project

    folder = tmp_path_factory.mktemp("init") / "project"
    with session_context(session_home, folder.parent):
        create_project(folder)
    return folder


@pytest.fixture
def project(init_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TmpDir:
    target = tmp_path / "project"
    shutil.copytree(init_project, target, symlinks=True)
    monkeypatch.chdir(target)
    return TmpDir(target)


def result_of(tmp: TmpDir, name: str, fix: bool = False) -> Any:
    (result,) = run_doctor(tmp.path, fix=fix, names=[name]).results
    return result


def edit(tmp: TmpDir, path: str, old: str, new: str) -> None:
    file = tmp.path / path
    text = file.read_text()
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new))


def test_an_init_project_passes_every_check_without_a_warning(project: TmpDir) -> None:
    out = dvflow(project, "doctor")

    assert "0 warned, 0 failed" in out.stdout
    assert "DVC version:" in out.stdout and "dvflow version:" in out.stdout  # as dvc doctor
    report = json.loads(dvflow(project, "doctor", "--json").stdout)
    assert {c["status"] for c in report["checks"]} == {"pass"}
    assert len(report["checks"]) >= 17


def _big(tmp: TmpDir, path: str) -> None:
    with (tmp.path / path).open("wb") as f:
        f.truncate(BIG)


# check name -> (what breaks it, the status it then gets, a word of its message)
BREAKS: dict[str, tuple[Callable[[TmpDir], object], str, str]] = {
    "layout.src-and-notebooks": (
        lambda t: shutil.copy(t.path / "notebooks/explore.ipynb", t.path / "src/explore.ipynb"),
        "warn",
        "notebook inside src/",
    ),
    "layout.params-file": (lambda t: (t.path / "params.yaml").unlink(), "warn", "params.yaml"),
    "params.declared-exist": (
        lambda t: edit(t, "params.yaml", "  max_depth: 5\n", ""),
        "fail",
        "train.max_depth",
    ),
    "params.unused": (
        lambda t: edit(t, "params.yaml", "  max_depth: 5\n", "  max_depth: 5\n  knob: 3\n"),
        "warn",
        "train.knob",
    ),
    "params.no-secrets": (
        lambda t: edit(t, "params.yaml", "  seed: 42\n", "  seed: 42\n  api_token: s3cr3tvalue\n"),
        "fail",
        "credential",
    ),
    "pipeline.scripts-in-deps": (
        lambda t: edit(t, "dvc.yaml", "      - src/train_model.py\n", ""),
        "warn",
        "src/train_model.py",
    ),
    "pipeline.results-in-git": (
        lambda t: edit(
            t,
            "dvc.yaml",
            "      - evaluation.json:\n          cache: false\n",
            "      - evaluation.json\n",
        ),
        "warn",
        "evaluation.json",
    ),
    "git.outputs-not-in-git": (
        lambda t: t.git("add", "-f", "data/raw/breast_cancer.csv"),
        "fail",
        "both DVC and git",
    ),
    "git.large-tracked": (
        lambda t: (_big(t, "big.bin"), t.git("add", "big.bin")),
        "warn",
        "big.bin",
    ),
    "git.large-untracked": (lambda t: _big(t, "dump.bin"), "warn", "dump.bin"),
    "ignore.gitignore": (
        lambda t: edit(t, ".gitignore", "mlflow.db\n", ""),
        "warn",
        "mlflow.db",
    ),
    "ignore.dvcignore": (lambda t: (t.path / ".dvcignore").unlink(), "warn", ".dvcignore"),
    "env.requirements": (
        lambda t: (t.path / "requirements.txt").write_text("click\n"),
        "warn",
        "click is not pinned",
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_check_passes_on_the_init_project_and_not_once_broken(
    project: TmpDir, name: str
) -> None:
    assert result_of(project, name).status == "pass"
    breaks, status, word = BREAKS[name]

    breaks(project)

    result = result_of(project, name)
    assert result.status == status
    assert any(word in p.message or word in (p.location or "") for p in result.problems)
    assert all(p.fix for p in result.problems)


def test_fix_repairs_ignore_files_and_pins_and_says_what_it_changed(project: TmpDir) -> None:
    edit(project, ".gitignore", "mlflow.db\n", "")
    (project.path / ".dvcignore").unlink()
    (project.path / "requirements.txt").write_text("# mine\nclick  # the CLI\n")

    out = dvflow(project, "doctor", "--fix", "--no-versions")

    assert "fixed: .gitignore: appended mlflow.db" in out.stdout
    assert "fixed: .dvcignore: created" in out.stdout
    assert "click==" in (project.path / "requirements.txt").read_text()
    assert "# mine" in (project.path / "requirements.txt").read_text()
    assert (project.path / ".dvcignore").is_file()
    assert "0 warned, 0 failed" in out.stdout


def test_a_failing_check_exits_non_zero_with_json_naming_where_and_how(project: TmpDir) -> None:
    edit(project, "params.yaml", "  max_depth: 5\n", "")

    out = dvflow(project, "doctor", "--json", check=False)

    assert out.returncode == 1 and "params.declared-exist" in out.stderr
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    (problem,) = checks["params.declared-exist"]["problems"]
    assert checks["params.declared-exist"]["status"] == "fail"
    assert problem["location"] == "dvc.yaml" and "params.yaml" in problem["fix"]
    assert checks["layout.params-file"]["status"] == "pass"


def test_a_secret_value_is_never_printed(project: TmpDir) -> None:
    edit(project, "params.yaml", "  seed: 42\n", "  seed: 42\n  url: https://u:hunter22@h.io\n")

    out = dvflow(project, "doctor", "--json", check=False)

    assert out.returncode == 1 and "hunter22" not in out.stdout + out.stderr
    assert "params.no-secrets" in out.stderr


# Checks that need a project in other states: a small pipeline, remotes, a store.
SMALL = """\
stages:
  make:
    cmd: python make.py
    deps: [make.py]
    params: [n]
    outs: [out.txt]
"""


@pytest.fixture
def small(dvc: TmpDir) -> TmpDir:
    dvc.gen(
        {
            "make.py": "import yaml\nn = yaml.safe_load(open('params.yaml'))['n']\n"
            "open('out.txt', 'w').write('x' * n)\n",
            "params.yaml": "n: 3\n",
            "dvc.yaml": SMALL,
        }
    )
    dvc.commit("pipeline")
    return dvc


def test_lock_committed_and_up_to_date(small: TmpDir) -> None:
    assert result_of(small, "pipeline.lock").problems[0].severity == "info"  # not run yet
    small.dvc("repro", "-q")
    result = result_of(small, "pipeline.lock")
    assert result.status == "warn" and "not committed" in result.problems[0].message
    small.commit("ran")
    assert result_of(small, "pipeline.lock").status == "pass"

    small.gen({"params.yaml": "n: 4\n"})
    result = result_of(small, "pipeline.lock")
    assert result.status == "warn" and "'make' is not up to date" in result.problems[0].message

    small.gen({".gitignore": "dvc.lock\n"})
    small.git("rm", "-q", "--cached", "dvc.lock")
    assert result_of(small, "pipeline.lock").status == "fail"


def test_remote_configured_and_holding_the_data(small: TmpDir, tmp_path: Path) -> None:
    small.dvc("repro", "-q")
    small.commit("ran")
    bare = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(bare)], tmp_path)
    small.git("remote", "add", "origin", str(bare))
    result = result_of(small, "dvc.remote")
    assert result.status == "warn" and "no DVC remote" in result.problems[0].message

    small.dvc("remote", "add", "-d", "store", str(tmp_path / "storage"))
    result = result_of(small, "dvc.remote")
    assert result.status == "warn" and "lacks 1 file" in result.problems[0].message

    small.dvc("push", "-q")
    assert result_of(small, "dvc.remote").status == "pass"


def test_store_reachable_and_experiment_not_deleted(
    project: TmpDir, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert result_of(project, "mlflow.store").problems == []
    experiment_id = client.create_experiment("project")
    report = run_doctor(project.path, names=["mlflow.store", "mlflow.experiment"])
    assert [r.status for r in report.results] == ["pass", "pass"]
    assert all(r.problems == [] for r in report.results)

    client.delete_experiment(experiment_id)
    (_, experiment) = run_doctor(project.path, names=["mlflow.store", "mlflow.experiment"]).results
    assert experiment.status == "fail"
    assert f"restore --experiment-id {experiment_id}" in (experiment.problems[0].fix or "")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens
    store = result_of(project, "mlflow.store")
    assert store.status == "fail" and "no answer" in store.problems[0].message


def test_a_virtual_environment_of_any_name_must_be_ignored(project: TmpDir) -> None:
    (project.path / "pyenv").mkdir()
    (project.path / "pyenv" / "pyvenv.cfg").write_text("home = /usr\n")

    result = result_of(project, "ignore.gitignore")

    assert result.status == "warn" and result.problems[0].message.endswith("pyenv/")
    assert result_of(project, "ignore.gitignore", fix=True).status == "pass"
    assert "pyenv/" in (project.path / ".gitignore").read_text()
    assert (project.path / "pyenv").is_dir()

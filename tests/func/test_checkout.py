"""`dvflow checkout`: a run's exact code and data, restored from git, MLflow and the DVC
remote, verified; the user's own work is never touched."""

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import TmpDir, dvflow, run

pytestmark = pytest.mark.slow  # real git, dvc and mlflow processes

PREPARE = """\
import yaml
n = yaml.safe_load(open("params.yaml"))["n"]
open("prepared.csv", "w").write(open("data/raw.csv").read() * n)
"""
TRAIN = """\
import json
import shutil
json.dump({"acc": len(open("prepared.csv").read()) / 100}, open("metrics.json", "w"))
"""
PIPELINE = """\
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py, data/raw.csv]
    params: [n]
    outs: [prepared.csv]
  train:
    cmd: python train.py
    deps: [train.py, prepared.csv]
    metrics: [metrics.json]
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str, tmp_path: Path) -> TmpDir:
    return build_project(dvc, tmp_path)


def build_project(dvc: TmpDir, tmp_path: Path) -> TmpDir:
    """A pipeline with a DVC remote (a local folder) and a bare git remote."""
    run(["git", "init", "-q", "--bare", "-b", "main", str(tmp_path / "origin.git")], tmp_path)
    dvc.git("remote", "add", "origin", str(tmp_path / "origin.git"))
    dvc.dvc("remote", "add", "-d", "storage", str(tmp_path / "dvc-remote"))
    dvc.gen(
        {
            "data/raw.csv": "a\n1\n2\n",
            "prepare.py": PREPARE,
            "train.py": TRAIN,
            "params.yaml": "n: 2\n",
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.dvc("add", "-q", "data/raw.csv")
    dvc.commit("pipeline")
    return dvc


def repro(tmp: TmpDir) -> str:
    """`dvflow repro`; the parent run's id."""
    return str(json.loads(dvflow(tmp, "repro", "--json").stdout)["parent_run_id"])


def dirty_run(project: TmpDir) -> str:
    """A run made from uncommitted changes (a param and an untracked helper file)."""
    repro(project)
    project.commit("first run")
    project.gen({"params.yaml": "n: 3\n", "notes.txt": "uncommitted note\n"})
    return repro(project)


def publish(project: TmpDir) -> None:
    project.git("push", "-q", "origin", "main")
    project.dvc("push", "-q")


def clone(project: TmpDir, tmp_path: Path) -> TmpDir:
    run(["git", "clone", "-q", str(tmp_path / "origin.git"), "teammate"], tmp_path)
    return TmpDir(tmp_path / "teammate")


def assert_restored(folder: Path, *, n: int) -> None:
    assert (folder / "params.yaml").read_text() == f"n: {n}\n"
    assert (folder / "prepared.csv").read_text() == "a\n1\n2\n" * n
    assert json.loads((folder / "metrics.json").read_text()) == {"acc": 6 * n / 100}
    status = run(["dvc", "status", "--json"], folder).stdout  # DVC: workspace matches lock
    assert json.loads(status) == {}


def user_work(project: TmpDir) -> dict[str, str]:
    """Uncommitted work of every kind: a dirty tracked file, an untracked file, and a
    modified DVC-tracked data file (which git does not see)."""
    project.gen(
        {
            "train.py": TRAIN + "# my edit\n",
            "scratch.txt": "mine\n",
            "data/raw.csv": "a\n1\n2\n3-edited\n",
        }
    )
    return {p: (project.path / p).read_text() for p in ("train.py", "scratch.txt", "data/raw.csv")}


def assert_untouched(project: TmpDir, work: dict[str, str], head: str) -> None:
    assert {p: (project.path / p).read_text() for p in work} == work
    assert project.git("rev-parse", "HEAD") == head


def test_checkout_into_a_worktree_restores_a_dirty_run_and_verifies_it(
    project: TmpDir, tmp_path: Path
) -> None:
    run_id = dirty_run(project)
    project.commit("second run")
    repro(project)  # the workspace moves on
    head = project.git("rev-parse", "HEAD")
    work = user_work(project)

    result = dvflow(project, "checkout", run_id[:10])

    folder = tmp_path / f"project-run-{run_id[:8]}"
    assert f"restored into {folder}" in result.stdout
    assert "3 of 3 path(s) restored and verified" in result.stdout
    assert_restored(folder, n=3)
    assert (folder / "notes.txt").read_text() == "uncommitted note\n"
    # Nothing copied: the worktree uses the project's DVC cache.
    assert str(project.path / ".dvc" / "cache") in (folder / ".dvc" / "config.local").read_text()
    assert_untouched(project, work, head)


def test_checkout_refuses_a_folder_that_is_not_empty(project: TmpDir, tmp_path: Path) -> None:
    run_id = repro(project)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine\n")
    result = dvflow(project, "checkout", run_id, "--worktree", str(taken), check=False)
    assert result.returncode == 9, result.stderr
    assert "is not empty: nothing was changed" in result.stderr
    assert sorted(p.name for p in taken.iterdir()) == ["keep.txt"]


def test_checkout_in_place_refuses_a_dirty_tree(project: TmpDir) -> None:
    run_id = repro(project)
    project.commit("run")
    head = project.git("rev-parse", "HEAD")
    work = user_work(project)
    result = dvflow(project, "checkout", run_id, "--in-place", check=False)
    assert result.returncode == 9, result.stderr
    assert "train.py" in result.stderr and "nothing was changed" in result.stderr
    assert_untouched(project, work, head)


def test_checkout_in_place_refuses_unsaved_data(project: TmpDir) -> None:
    # git does not see a DVC-tracked file: DVC's own status must.
    run_id = repro(project)
    project.commit("run")
    project.gen({"data/raw.csv": "a\nedited\n"})
    result = dvflow(project, "checkout", run_id, "--in-place", check=False)
    assert result.returncode == 9, result.stderr
    assert "data/raw.csv" in result.stderr
    assert (project.path / "data/raw.csv").read_text() == "a\nedited\n"


def test_checkout_in_place_on_a_clean_tree(project: TmpDir) -> None:
    first = repro(project)
    commit = project.commit("first run")
    project.gen({"params.yaml": "n: 4\n"})
    repro(project)
    project.commit("second run")
    dvflow(project, "checkout", first, "--in-place")
    # The commit the run was made from, and the data the run wrote (its dvc.lock).
    assert project.git("rev-parse", "HEAD") == project.git("rev-parse", f"{commit}~1")
    assert_restored(project.path, n=2)


def test_checkout_pulls_data_missing_from_the_cache(project: TmpDir, tmp_path: Path) -> None:
    run_id = repro(project)
    project.commit("run")
    publish(project)
    shutil.rmtree(project.path / ".dvc" / "cache")
    dvflow(project, "checkout", run_id)
    assert_restored(tmp_path / f"project-run-{run_id[:8]}", n=2)
    assert (project.path / ".dvc" / "cache" / "files").is_dir()  # pulled into the shared cache


def test_a_dirty_run_is_restored_in_another_clone(project: TmpDir, tmp_path: Path) -> None:
    run_id = dirty_run(project)
    publish(project)  # the commit and the data; the uncommitted changes are in MLflow only
    teammate = clone(project, tmp_path)
    result = dvflow(teammate, "checkout", run_id, "--worktree", str(tmp_path / "restored"))
    assert "3 of 3 path(s) restored and verified" in result.stdout
    assert_restored(tmp_path / "restored", n=3)
    assert (tmp_path / "restored" / "notes.txt").read_text() == "uncommitted note\n"


def test_data_in_no_cache_nor_remote_is_named(project: TmpDir, tmp_path: Path) -> None:
    run_id = repro(project)
    project.git("push", "-q", "origin", "main")  # git only: no dvc push
    teammate = clone(project, tmp_path)
    result = dvflow(teammate, "checkout", run_id, check=False)
    assert result.returncode == 8, result.stderr
    assert "prepared.csv" in result.stderr and "run 'dvc push'" in result.stderr
    assert "only in part" in result.stderr


def test_a_commit_missing_everywhere_is_said(project: TmpDir, tmp_path: Path) -> None:
    project.gen({"params.yaml": "n: 5\n"})
    project.commit("local only")
    run_id = repro(project)  # made from a commit that is never pushed
    project.git("push", "-q", "origin", "HEAD~1:refs/heads/main")
    teammate = clone(project, tmp_path)
    result = dvflow(teammate, "checkout", run_id, check=False)
    assert result.returncode == 8, result.stderr
    assert "neither in this clone nor on its remotes" in result.stderr
    assert "git push" in result.stderr
    assert not (tmp_path / f"teammate-run-{run_id[:8]}").exists()

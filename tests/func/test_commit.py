"""`dvflow commit`: a stale pipeline is refused, data is never staged, runs made from a
dirty tree are bound to the commit that records their state, DVC pushes before git."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow, run, template_project

pytestmark = pytest.mark.slow  # real git, dvc and mlflow processes

TRAIN = """\
import json, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
rows = open("data/raw.csv").read().splitlines()
open("model.bin", "w").write(f"model {lr} {len(rows)}\\n")
json.dump({"acc": lr * 2}, open("metrics.json", "w"))
"""

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, data/raw.csv]
    params: [train.lr]
    outs: [model.bin]
    metrics: [metrics.json: {cache: false}]
"""


def _build(dvc: TmpDir) -> None:
    dvc.gen(
        {
            "data/raw.csv": "a,b\n1,2\n3,4\n",
            "train.py": TRAIN,
            "params.yaml": "train:\n  lr: 0.1\n",
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.dvc("add", "-q", "data/raw.csv")
    dvc.commit("pipeline")


project = template_project("commit", _build)


def _index(tmp: TmpDir) -> set[str]:
    return set(tmp.git("ls-files").splitlines())


def _runs_of(client: Any) -> list[Any]:
    return [r for r in all_runs(client) if tags.RESULT_FINGERPRINT in r.data.tags]


def test_a_stale_pipeline_is_refused_and_nothing_is_staged(project: TmpDir) -> None:
    dvflow(project, "repro")
    project.commit("ran")
    project.gen({"params.yaml": "train:\n  lr: 0.2\n"})

    refused = dvflow(project, "commit", "-m", "change lr", check=False)

    assert refused.returncode == 5
    assert "not up to date" in refused.stderr and "train" in refused.stderr
    assert "dvflow commit --repro" in refused.stderr
    assert project.git("diff", "--cached", "--name-only") == ""
    assert project.git("log", "-1", "--format=%s") == "ran"


def test_repro_flag_runs_the_pipeline_first(project: TmpDir) -> None:
    dvflow(project, "repro")
    project.commit("ran")
    project.gen({"params.yaml": "train:\n  lr: 0.2\n"})

    dvflow(project, "commit", "-m", "change lr", "--repro")

    assert project.git("log", "-1", "--format=%s") == "change lr"
    assert json.loads(project.git("show", "HEAD:metrics.json")) == {"acc": 0.4}
    assert project.git("status", "--porcelain") == ""


def test_data_is_never_staged_and_what_is_left_is_explained(project: TmpDir) -> None:
    dvflow(project, "repro")
    # DVC's own .gitignore entry for the model is lost: git now sees the data file.
    (project.path / ".gitignore").write_text("")
    project.gen({"notes.bin": "x", "src/helper.py": "X = 1\n"})

    out = dvflow(project, "commit", "-m", "train", "--json")

    report = json.loads(out.stdout)
    committed = _index(project)
    assert {"dvc.lock", "metrics.json", "src/helper.py", ".gitignore"} <= committed
    assert "model.bin" not in committed and "notes.bin" not in committed
    left = {d["path"]: d["reason"] for d in report["left_unstaged"]}
    assert "DVC-tracked data" in left["model.bin"]
    assert "git add" in left["notes.bin"]
    human = dvflow(project, "commit", "-m", "again", check=False)
    assert "left unstaged:" in human.stdout and "model.bin" in human.stdout
    assert human.returncode == 1 and "nothing to commit" in human.stderr


def test_data_staged_by_hand_is_refused(project: TmpDir) -> None:
    dvflow(project, "repro")
    project.git("add", "-f", "model.bin")

    refused = dvflow(project, "commit", "-m", "train", check=False)

    assert refused.returncode == 1
    assert "model.bin" in refused.stderr and "git restore --staged" in refused.stderr
    assert project.git("log", "-1", "--format=%s") == "pipeline"


def test_runs_made_from_a_dirty_tree_are_bound_to_the_commit(project: TmpDir, client: Any) -> None:
    dvflow(project, "repro")
    old_commit = project.commit("first run")
    before = {r.info.run_id for r in _runs_of(client)}
    project.gen({"params.yaml": "train:\n  lr: 0.3\n"})  # dirty: not committed
    dvflow(project, "repro")
    dirty_runs = [r for r in _runs_of(client) if r.info.run_id not in before]
    assert dirty_runs and all(r.data.tags[tags.GIT_DIRTY] == "true" for r in dirty_runs)

    out = json.loads(dvflow(project, "commit", "-m", "lr 0.3", "--json").stdout)

    head = project.git("rev-parse", "HEAD")
    assert out["commit"] == head
    assert sorted(out["bound_runs"]) == sorted(r.info.run_id for r in dirty_runs)
    for r in _runs_of(client):
        if r.info.run_id in before:
            # Its state is the first commit's child, never this tree: not bound.
            assert tags.BOUND_COMMIT not in r.data.tags
        else:
            assert r.data.tags[tags.BOUND_COMMIT] == head
            assert r.data.tags[tags.GIT_COMMIT] == old_commit  # history stays
            assert r.data.tags[tags.RESULT_FINGERPRINT] == project.git("rev-parse", "HEAD^{tree}")


def test_a_clean_run_that_rewrote_dvc_lock_is_bound_too(project: TmpDir, client: Any) -> None:
    dvflow(project, "repro")  # made from the clean "pipeline" commit, writes dvc.lock

    dvflow(project, "commit", "-m", "first run")

    head = project.git("rev-parse", "HEAD")
    runs = _runs_of(client)
    assert runs and all(r.data.tags[tags.GIT_DIRTY] == "false" for r in runs)
    assert {r.data.tags.get(tags.BOUND_COMMIT) for r in runs} == {head}


def test_no_store_yet_commits_without_creating_one(dvc: TmpDir) -> None:
    dvc.gen({"src/a.py": "A = 1\n"})

    out = dvflow(dvc, "commit", "-m", "code")

    assert "no run to bind" in out.stdout
    assert not (dvc.path / "mlflow.db").exists()
    assert dvc.git("log", "-1", "--format=%s") == "code"


def _remotes(project: TmpDir, tmp_path: Path, dvc_url: str) -> Path:
    bare = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(bare)], tmp_path)
    project.git("remote", "add", "origin", str(bare))
    project.dvc("remote", "add", "-d", "store", dvc_url)
    project.commit("remotes")
    return bare


def test_push_sends_dvc_data_then_git(project: TmpDir, tmp_path: Path) -> None:
    storage = tmp_path / "dvc-storage"
    bare = _remotes(project, tmp_path, str(storage))
    project.gen({"params.yaml": "train:\n  lr: 0.5\n"})

    out = dvflow(project, "commit", "-m", "lr 0.5", "--repro", "--push")

    assert "pushed" in out.stdout
    head = project.git("rev-parse", "HEAD")
    assert run(["git", "rev-parse", "main"], bare).stdout.strip() == head
    # Every file the commit needs is on the DVC remote.
    assert "in sync" in project.dvc("status", "-c").stdout
    assert any(p.is_file() for p in storage.rglob("*"))


def test_a_failing_dvc_push_pushes_nothing_to_git(project: TmpDir, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bare = _remotes(project, tmp_path, str(blocker / "storage"))
    project.gen({"params.yaml": "train:\n  lr: 0.5\n"})
    dvflow(project, "repro")

    failed = dvflow(project, "commit", "-m", "lr 0.5", "--push", check=False)

    assert failed.returncode == 1
    assert "dvc push failed" in failed.stderr and "nothing was pushed to git" in failed.stderr
    assert project.git("log", "-1", "--format=%s") == "lr 0.5"  # the commit stays, locally
    assert run(["git", "for-each-ref"], bare).stdout == ""


def test_a_read_only_dvc_remote_pushes_nothing_to_git(project: TmpDir, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    storage = tmp_path / "read-only"
    storage.mkdir()
    bare = _remotes(project, tmp_path, str(storage))
    storage.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        project.gen({"params.yaml": "train:\n  lr: 0.5\n"})
        dvflow(project, "repro")
        failed = dvflow(project, "commit", "-m", "lr 0.5", "--push", check=False)
    finally:
        storage.chmod(stat.S_IRWXU)
    assert failed.returncode == 1 and "dvc push failed" in failed.stderr
    assert run(["git", "for-each-ref"], bare).stdout == ""


def test_checkout_restores_a_bound_run_from_its_commit(
    project: TmpDir, client: Any, tmp_path: Path
) -> None:
    dvflow(project, "repro")
    project.commit("first run")
    project.gen({"params.yaml": "train:\n  lr: 0.3\n"})  # dirty: not committed
    dvflow(project, "repro")
    parent = next(
        r
        for r in _runs_of(client)
        if r.data.tags.get(tags.KIND) == tags.KIND_PIPELINE
        and r.data.tags.get(tags.GIT_DIRTY) == "true"
    )
    dvflow(project, "commit", "-m", "lr 0.3")
    head = project.git("rev-parse", "HEAD")
    into = tmp_path / "restored"
    out = json.loads(
        dvflow(project, "checkout", parent.info.run_id, "--worktree", str(into), "--json").stdout
    )
    # Restored from the commit that records the state the run left, no patch applied.
    assert out["commit"] == head and out["patched"] is False
    assert out["fingerprint"] == parent.data.tags[tags.RESULT_FINGERPRINT]
    assert "lr: 0.3" in (into / "params.yaml").read_text()

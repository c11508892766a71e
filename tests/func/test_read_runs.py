"""Reading runs back: `dvflow runs` and its filters, `dvflow show`, `dvflow diff`, on a
project with three runs of different params and data versions."""

import csv
import io
import json
import shutil
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

PREPARE = """\
import yaml
rows = yaml.safe_load(open("params.yaml"))["prepare"]["rows"]
lines = open("data/raw.csv").read().splitlines()
open("prepared.csv", "w").write("\\n".join(lines[: 1 + rows]) + "\\n")
"""
TRAIN = """\
import json, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
json.dump({"acc": lr * 3}, open("metrics.json", "w"))
"""
PIPELINE = """\
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py, data/raw.csv]
    params: [prepare.rows]
    outs: [prepared.csv]
  train:
    cmd: python train.py
    deps: [train.py, prepared.csv]
    params: [train.lr]
    metrics: [metrics.json: {cache: false}]
"""


def _pipeline_runs(client: Any) -> list[Any]:
    runs = [r for r in all_runs(client) if r.data.tags.get(tags.KIND) == tags.KIND_PIPELINE]
    return sorted(runs, key=lambda r: r.info.start_time)


@pytest.fixture
def three_runs(dvc: TmpDir, tracking_uri: str) -> dict[str, Any]:
    """Run 1: lr 0.1, data v1. Run 2: lr 0.2. Run 3: data v2 (3 rows kept). Each committed."""
    dvc.gen(
        {
            "data/raw.csv": "a,b\n1,2\n3,4\n",
            "params.yaml": "prepare:\n  rows: 3\ntrain:\n  lr: 0.1\n",
        }
    )
    dvc.dvc("add", "-q", "data/raw.csv")
    dvc.gen({"prepare.py": PREPARE, "train.py": TRAIN, "dvc.yaml": PIPELINE})
    made_at = [dvc.commit("pipeline")]  # the commit each run is made from
    dvflow(dvc, "repro")
    dvc.commit("run 1")
    dvc.gen({"params.yaml": "prepare:\n  rows: 3\ntrain:\n  lr: 0.2\n"})
    made_at.append(dvc.commit("lr 0.2"))
    dvflow(dvc, "repro")
    dvc.commit("run 2")
    dvc.gen({"data/raw.csv": "a,b\n1,2\n3,4\n5,6\n"})
    dvc.dvc("add", "-q", "data/raw.csv")
    made_at.append(dvc.commit("more data"))
    dvflow(dvc, "repro")
    dvc.commit("run 3")
    from mlflow import MlflowClient

    runs = _pipeline_runs(MlflowClient(tracking_uri))
    assert len(runs) == 3
    assert [r.data.tags[tags.GIT_COMMIT] for r in runs] == made_at
    return {"project": dvc, "runs": runs, "commits": made_at}


def _listed(project: TmpDir, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(dvflow(project, "runs", "--json", *args).stdout)
    return rows


def test_three_runs_read_back(three_runs: dict[str, Any]) -> None:
    """`diff`, `show` and `runs` on one set of three runs (made once: nine seconds of
    pipeline runs), in this order: `show` then empties the cache and the remote, and
    `runs` rewinds the branch."""
    _diff_two_runs_and_two_revisions(three_runs)
    _show_a_runs_lineage_and_whether_it_can_be_restored(three_runs)
    _runs_table_and_its_filters(three_runs)


def _runs_table_and_its_filters(three_runs: dict[str, Any]) -> None:
    project, runs = three_runs["project"], three_runs["runs"]
    ids = [r.info.run_id for r in runs]
    v1 = runs[0].data.tags["dvc.out.data/raw.csv"]
    v2 = runs[2].data.tags["dvc.out.data/raw.csv"]
    assert v1 != v2

    pipelines = _listed(project, "--kind", "pipeline")
    assert [r["run_id"] for r in pipelines] == ids[::-1]  # newest first
    assert pipelines[0]["metrics"] == {"acc": pytest.approx(0.6)}

    # Every version of the file: the pipeline runs and the prepare stage runs.
    any_version = _listed(project, "--data", "data/raw.csv")
    assert {r["run_id"] for r in any_version if r["kind"] == "pipeline"} == set(ids)
    assert {r["stage"] for r in any_version if r["kind"] == "stage"} == {"prepare"}
    at_v1 = _listed(project, "--data", f"data/raw.csv@{v1[:8]}", "--kind", "pipeline")
    assert [r["run_id"] for r in at_v1] == ids[1::-1]
    # A path is taken relative to the current folder, as DVC takes it.
    at_v2 = json.loads(
        dvflow(TmpDir(project.path / "data"), "runs", "--json", "--data", f"raw.csv@{v2}").stdout
    )
    assert {r["run_id"] for r in at_v2 if r["kind"] == "pipeline"} == {ids[2]}

    made_at = _listed(project, "--commit", three_runs["commits"][1])
    assert {r["run_id"] for r in made_at if r["kind"] == "pipeline"} == {ids[1]}
    # A commit this clone does not have (made elsewhere): its id, or a prefix of it.
    project.git("reset", "-q", "--hard", three_runs["commits"][0])
    project.git("reflog", "expire", "--expire=now", "--all")
    project.git("gc", "-q", "--prune=now")
    elsewhere = _listed(project, "--commit", three_runs["commits"][2][:10], "--kind", "pipeline")
    assert [r["run_id"] for r in elsewhere] == [ids[2]]
    assert {r["stage"] for r in _listed(project, "--stage", "train")} == {"train"}
    assert _listed(project, "--status", "failed") == []
    assert len(_listed(project, "--limit", "2")) == 2

    table = dvflow(project, "runs", "--kind", "pipeline").stdout.splitlines()
    assert table[0].split()[:6] == ["run", "name", "kind", "status", "commit", "started"]
    assert table[1].startswith(ids[2][:12]) and "acc" in table[0]

    missing = dvflow(project, "runs", "--experiment", "nope", check=False)
    assert missing.returncode == 6 and "no experiment 'nope'" in missing.stderr


def _show_a_runs_lineage_and_whether_it_can_be_restored(three_runs: dict[str, Any]) -> None:
    project, first = three_runs["project"], three_runs["runs"][0]
    shown = json.loads(dvflow(project, "show", first.info.run_id[:10], "--json").stdout)
    assert shown["run"]["run_id"] == first.info.run_id
    assert shown["code"]["commit"] == three_runs["commits"][0]
    assert shown["code"]["dirty"] is False
    assert shown["params"] == {"prepare.rows": "3", "train.lr": "0.1"}
    data = {(d["role"], d["path"]): d for d in shown["data"]}
    assert data["out", "data/raw.csv"]["hash"] == first.data.tags["dvc.out.data/raw.csv"]
    assert data["out", "data/raw.csv"]["where"] == "cache"
    assert "prepare.py" in shown["code_files"]
    assert [s["stage"] for s in shown["stages"]] == ["prepare", "train"]
    assert "dvflow/snapshot.json" in shown["artifacts"]
    assert shown["restore"] == {
        "commit_present": True,
        "missing_data": [],
        "unknown_data": [],
        "patch_complete": None,
        "omitted_files": [],
        "restorable": True,
    }
    text = dvflow(project, "show", first.info.run_id).stdout
    assert "restorable here: yes" in text and "train.lr = 0.1" in text

    # Out of the cache but in the default remote: still restorable, from there.
    remote = project.path.parent / "remote"
    project.dvc("remote", "add", "-d", "storage", str(remote))
    project.git("checkout", "-q", three_runs["commits"][0])  # run 1's data files
    project.dvc("push", "-q")
    project.git("checkout", "-q", "main")
    shutil.rmtree(project.path / ".dvc" / "cache")
    pushed = json.loads(dvflow(project, "show", first.info.run_id, "--json").stdout)
    assert {d["where"] for d in pushed["data"]} == {"remote"}, pushed["data"]
    assert pushed["restore"]["restorable"] is True

    # In neither, the data versions cannot be had.
    shutil.rmtree(remote)
    remote.mkdir()
    gone = json.loads(dvflow(project, "show", first.info.run_id, "--json").stdout)
    assert gone["restore"]["missing_data"] == ["data/raw.csv", "prepared.csv"]
    assert gone["restore"]["restorable"] is False
    assert (
        "not in cache nor remote: data/raw.csv" in dvflow(project, "show", first.info.run_id).stdout
    )

    unknown = dvflow(project, "show", "no-such-run", check=False)
    assert unknown.returncode == 6 and "no run matches 'no-such-run'" in unknown.stderr
    ambiguous = dvflow(project, "show", "train", check=False)
    assert ambiguous.returncode == 6 and "matches 3 runs" in ambiguous.stderr


def test_show_names_what_a_dirty_runs_patch_left_out(dvc: TmpDir, tracking_uri: str) -> None:
    dvc.gen(
        {"data/raw.csv": "a,b\n1,2\n", "params.yaml": "prepare:\n  rows: 1\ntrain:\n  lr: 0.1\n"}
    )
    dvc.dvc("add", "-q", "data/raw.csv")
    dvc.gen({"prepare.py": PREPARE, "train.py": TRAIN, "dvc.yaml": PIPELINE})
    dvc.commit("pipeline")
    (dvc.path / "blob.bin").write_bytes(b"\x00\x01binary")  # untracked: dirty, unpatchable
    dvflow(dvc, "repro")
    shown = json.loads(dvflow(dvc, "show", "prepare", "--json").stdout)
    assert shown["code"]["dirty"] is True
    assert shown["restore"]["patch_complete"] is False
    assert shown["restore"]["omitted_files"] == ["blob.bin"]
    assert shown["restore"]["restorable"] is False


def _diff_two_runs_and_two_revisions(three_runs: dict[str, Any]) -> None:
    project, runs, commits = three_runs["project"], three_runs["runs"], three_runs["commits"]
    first, second, third = (r.info.run_id for r in runs)

    params = json.loads(dvflow(project, "diff", first, second, "--json").stdout)
    assert params["params"] == {"train.lr": {"old": "0.1", "new": "0.2", "diff": "modified"}}
    assert params["data"] == {}  # same data
    assert params["metrics"]["acc"]["diff"] == pytest.approx(0.3)
    assert params["code"]["git commit"] == {
        "old": commits[0],
        "new": commits[1],
        "diff": "modified",
    }
    assert params["code"]["params.yaml"]["diff"] == "modified"  # committed in between

    data = json.loads(dvflow(project, "diff", second, third, "--json").stdout)
    assert data["params"] == {}
    assert set(data["data"]) == {"data/raw.csv", "prepared.csv"}
    assert {c["diff"] for c in data["data"].values()} == {"modified"}
    assert data["code"]["data/raw.csv.dvc"]["diff"] == "modified"

    # Revisions: the pipeline runs made at those commits.
    by_rev = json.loads(dvflow(project, "diff", commits[0], "HEAD~1", "--json").stdout)
    assert (by_rev["a"]["run_id"], by_rev["b"]["run_id"]) == (first, third)

    table = dvflow(project, "diff", first, second).stdout
    lines = table.splitlines()
    assert ["Param", first[:12], second[:12]] == lines[
        lines.index(next(line for line in lines if line.startswith("Param")))
    ].split()
    assert "train.lr" in table and "prepare.rows" not in table
    assert "prepare.rows" in dvflow(project, "diff", first, second, "-a").stdout
    assert "| Param " in dvflow(project, "diff", first, second, "--md").stdout
    rows = list(csv.reader(io.StringIO(dvflow(project, "diff", first, second, "--csv").stdout)))
    assert ["train.lr", "0.1", "0.2"] in rows
    assert dvflow(project, "diff", first, "nothing", check=False).returncode == 6

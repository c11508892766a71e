"""`dvflow demo`: the README's main command, on the embedded default store."""

import json
from pathlib import Path

import pytest

from dvflow.tracking import schema as tags
from dvflow.tracking.compare import split_code_and_data
from tests.conftest import TmpDir, all_runs, dvflow, run

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_demo_runs_twice_and_compares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # nothing but the defaults
    result = dvflow(TmpDir(tmp_path), "demo", "--json")
    report = json.loads(result.stdout)
    project = tmp_path / "demo"
    assert report["path"] == str(project) and report["previous_demo"] is None
    assert report["tracking_uri"] == f"sqlite:///{project / 'mlflow.db'}"
    rows = {(r["section"], r["key"]): r for r in report["comparison"]["rows"]}
    changed = rows[("params", "train.max_depth")]
    assert changed["values"] == ["5", "2"] and changed["changed"]
    assert not rows[("params", "train.n_estimators")]["changed"]
    # Code: the commit and the stages' source files; data: what DVC tracks as data.
    assert rows[("code", "git commit")]["changed"]
    assert not rows[("code", "src/train_model.py")]["changed"]
    assert ("code", "src/reporting.py") in rows
    assert not rows[("data", "data/raw/breast_cancer.csv")]["changed"]
    assert rows[("data", "models/model.pkl")]["changed"]
    assert not [key for section, key in rows if section == "data" and key.startswith("src/")]
    assert ("metrics", "test.accuracy") in rows
    client = MlflowClient(report["tracking_uri"])
    parents = [r for r in all_runs(client) if r.data.tags[tags.KIND] == tags.KIND_PIPELINE]
    assert sorted(r.info.run_id for r in parents) == sorted(report["runs"])
    assert all(r.info.status == "FINISHED" for r in all_runs(client))
    log = run(["git", "log", "--format=%s"], project).stdout.splitlines()
    assert len(log) == 3 and "max_depth" in log[0]
    assert run(["git", "status", "--porcelain"], project).stdout == ""

    # The README's command once more: the first demo stays as it was, the second one
    # runs next to it and says so. Its output is DVC's stages and the table, no noise.
    before = _tree(project)
    again = dvflow(TmpDir(tmp_path), "demo")
    assert _tree(project) == before
    second = tmp_path / "demo-2"
    assert f"{project} is a previous demo, left as it is; this one runs in {second}" in (
        again.stderr
    )
    assert f"The two runs of {second}" in again.stdout and "cd demo-2 && dvflow ui" in again.stdout
    assert "* train.max_depth" in again.stdout
    sections = [line for line in again.stdout.splitlines() if line.startswith("[")]
    assert sections == ["[code]", "[data]", "[params]", "[metrics]"]
    output = again.stdout + again.stderr
    assert "git add" not in output and "autostage" not in output  # the demo commits itself
    assert "INFO" not in output and "database tables" not in output
    assert all(line.startswith("dvflow: ") for line in again.stderr.splitlines())
    assert len(run(["git", "log", "--format=%s"], second).stdout.splitlines()) == 3


def test_demo_leaves_a_folder_that_is_not_a_demo_alone(tmp_path: Path) -> None:
    mine = tmp_path / "demo"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    result = dvflow(TmpDir(tmp_path), "demo", check=False)
    assert result.returncode == 5
    assert result.stderr.count("\n") == 1 and "is not a dvflow demo" in result.stderr
    assert "dvflow demo demo-2" in result.stderr
    assert _tree(tmp_path) == {"demo/notes.txt": b"mine\n"}


def test_comparison_tells_code_from_data() -> None:
    stage_run = {
        tags.GIT_COMMIT: "8f3a9c",
        "dvc.dep.src/train.py": "aa",
        "dvc.dep.params_helper.py": "bb",
        "dvc.dep.data/features.csv": "cc",
        "dvc.dep.images": "dd.dir",
        "dvc.out.models/model.pkl": "ee",
    }
    pipeline_run = {
        tags.GIT_COMMIT: "9d0e1f",
        "dvc.dep.src/train.py": "aa",
        "dvc.out.data/features.csv": "cc",  # an output of a stage: data in every run
        "dvc.out.models/model.pkl": "ff",
    }
    code, data = split_code_and_data([stage_run, pipeline_run])
    assert code == [
        {"git commit": "8f3a9c", "src/train.py": "aa", "params_helper.py": "bb"},
        {"git commit": "9d0e1f", "src/train.py": "aa"},
    ]
    assert data == [
        {"models/model.pkl": "ee", "data/features.csv": "cc", "images": "dd.dir"},
        {"data/features.csv": "cc", "models/model.pkl": "ff"},
    ]


def test_runs_that_name_their_datasets_decide_what_is_data() -> None:
    run_tags = {
        tags.GIT_COMMIT: "8f3a9c",
        "dvc.dep.src/train.py": "aa",
        "dvc.dep.data/raw.csv": "bb",  # a .dvc file's data: a dataset input of the run
        "dvc.out.models/model.pkl": "cc",
        "dvc.out.metrics.json": "dd",  # DVC leaves it to git: its numbers are metrics
    }
    code, data = split_code_and_data([run_tags], {"data/raw.csv", "models/model.pkl"})
    assert code == [{"git commit": "8f3a9c", "src/train.py": "aa"}]
    assert data == [{"models/model.pkl": "cc", "data/raw.csv": "bb"}]

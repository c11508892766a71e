"""`dvflow demo`: the README's main command, on the embedded default store."""

import json
from pathlib import Path

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow, run

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each


@pytest.mark.slow
def test_demo_runs_twice_and_compares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # nothing but the defaults
    result = dvflow(TmpDir(tmp_path), "demo", "demo", "--json")
    report = json.loads(result.stdout)
    project = tmp_path / "demo"
    assert report["path"] == str(project)
    assert report["tracking_uri"] == f"sqlite:///{project / 'mlflow.db'}"
    rows = {(r["section"], r["key"]): r for r in report["comparison"]["rows"]}
    changed = rows[("params", "train.max_depth")]
    assert changed["values"] == ["5", "2"] and changed["changed"]
    assert not rows[("params", "train.n_estimators")]["changed"]
    assert not rows[("data", "data/raw/breast_cancer.csv")]["changed"]
    assert rows[("data", "models/model.pkl")]["changed"]
    assert ("metrics", "test.accuracy") in rows
    client = MlflowClient(report["tracking_uri"])
    parents = [r for r in all_runs(client) if r.data.tags[tags.KIND] == tags.KIND_PIPELINE]
    assert sorted(r.info.run_id for r in parents) == sorted(report["runs"])
    assert all(r.info.status == "FINISHED" for r in all_runs(client))
    log = run(["git", "log", "--format=%s"], project).stdout.splitlines()
    assert len(log) == 3 and "max_depth" in log[0]
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    # The text form prints the same comparison as a table.
    again = dvflow(TmpDir(tmp_path), "demo", "demo2")
    assert "* train.max_depth" in again.stdout and "dvflow ui" in again.stdout

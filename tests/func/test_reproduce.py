"""`dvflow reproduce`: a run made again from its exact code and data, compared."""

import json
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, dvflow, run
from tests.func.test_checkout import (
    build_project,
    clone,
    dirty_run,
    publish,
    repro,
    user_work,
)

pytestmark = pytest.mark.slow  # real git, dvc and mlflow processes

# Not deterministic: a different metric (and metrics file) every time.
RANDOM_TRAIN = """\
import json, random
json.dump({"acc": random.random()}, open("metrics.json", "w"))
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str, tmp_path: Path) -> TmpDir:
    return build_project(dvc, tmp_path)


def worktrees(tmp: TmpDir) -> list[str]:
    return [
        line
        for line in tmp.git("worktree", "list", "--porcelain").splitlines()
        if "worktree " in line
    ]


def test_a_deterministic_run_reproduces(project: TmpDir, client: Any) -> None:
    run_id = dirty_run(project)
    head = project.git("rev-parse", "HEAD")
    work = user_work(project)

    result = dvflow(project, "reproduce", run_id, "--json")

    report = json.loads(result.stdout)
    assert report["reproduced"] is True
    assert {o["name"]: o["verdict"] for o in report["outputs"]} == {
        "data/raw.csv": "identical",
        "metrics.json": "identical",
        "prepared.csv": "identical",
    }
    assert report["metrics"] == [
        {"name": "acc", "original": 0.18, "reproduced": 0.18, "verdict": "identical"}
    ]
    new = client.get_run(report["run_id"])
    assert new.data.tags[tags.REPRODUCES] == run_id
    assert new.data.tags[tags.REPRODUCED] == "true"
    # Made from exactly the original's code, uncommitted changes included.
    original = client.get_run(run_id)
    assert new.data.tags[tags.FINGERPRINT] == original.data.tags[tags.FINGERPRINT]
    assert len(worktrees(project)) == 1  # the temporary worktree is gone
    assert {p: (project.path / p).read_text() for p in work} == work
    assert project.git("rev-parse", "HEAD") == head


def test_a_changed_metric_is_detected(project: TmpDir, client: Any) -> None:
    project.gen({"train.py": RANDOM_TRAIN})
    project.commit("random training")
    run_id = repro(project)

    result = dvflow(project, "reproduce", run_id, check=False)

    assert result.returncode == 7, result.stderr
    assert "* metric acc: different" in result.stdout
    assert "* output metrics.json: different" in result.stdout
    assert "  output prepared.csv: identical" in result.stdout
    assert "did not reproduce: metrics.json, acc differ" in result.stderr
    reproductions = client.search_runs(
        [client.get_run(run_id).info.experiment_id], f"tags.`{tags.REPRODUCES}` = '{run_id}'"
    )
    assert [r.data.tags[tags.REPRODUCED] for r in reproductions] == ["false"]
    # A tolerance as wide as the metric's range accepts the metric, not the output hash.
    wide = dvflow(project, "reproduce", run_id, "--rel-tolerance", "1000", "--json", check=False)
    assert wide.returncode == 7
    assert json.loads(wide.stdout)["metrics"][0]["verdict"] == "within tolerance"


def test_a_teammate_reproduces_a_dirty_run(project: TmpDir, tmp_path: Path) -> None:
    run_id = dirty_run(project)
    publish(project)
    teammate = clone(project, tmp_path)
    result = dvflow(teammate, "reproduce", run_id)
    assert "dvflow: reproduced" in result.stdout
    assert not run(["git", "status", "--porcelain"], teammate.path).stdout

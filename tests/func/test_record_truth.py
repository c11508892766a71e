"""What a run records is true: code state, hashes, context tags, datasets, bad input."""

import os
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvc_exe, dvflow, python_env, run, template_project

pytestmark = pytest.mark.slow

FEATURIZE = """\
import dvflow
import os
from pathlib import Path

with dvflow.start_run():
    rows = Path("data/raw.csv").read_text().splitlines()
    Path("features.csv").write_text("\\n".join(rows) + "\\n")
"""

TRAIN = """\
import json
import os
from pathlib import Path
rows = Path("features.csv").read_text().splitlines()
json.dump({"rows": len(rows)}, open("metrics.json", "w"))
"""

PIPELINE = """\
stages:
  featurize:
    cmd: python featurize.py
    deps: [featurize.py, data/raw.csv]
    outs: [features.csv]
  train:
    cmd: python train.py
    deps: [train.py, features.csv]
    metrics: [metrics.json: {cache: false}]
"""


def _build(dvc: TmpDir) -> None:
    dvc.gen(
        {
            "data/raw.csv": "a\n1\n2\n",
            "featurize.py": FEATURIZE,
            "train.py": TRAIN,
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.dvc("add", "-q", "data/raw.csv")
    dvc.dvc("repro", "-q")  # a first run, committed: dvc.lock and metrics.json in git
    dvc.commit("pipeline, run once")


project = template_project("record-truth", _build)


def _pipeline_runs(client: Any) -> tuple[Any, dict[str, Any]]:
    runs = all_runs(client)
    (parent,) = [r for r in runs if r.data.tags.get(tags.KIND) == tags.KIND_PIPELINE]
    stages = {
        r.data.tags[tags.DVC_STAGE]: r
        for r in runs
        if r.data.tags.get(tags.PARENT_RUN_ID) == parent.info.run_id
    }
    return parent, stages


def test_one_invocation_one_code_state_clean_means_clean(project: TmpDir, client: Any) -> None:
    made_from = project.git("rev-parse", "HEAD^{tree}")
    dvflow(project, "repro", "--force")
    parent, stages = _pipeline_runs(client)
    assert set(stages) == {"featurize", "train"}
    for found in [parent, *stages.values()]:
        found_tags = found.data.tags
        # A clean, committed tree made every run of the invocation.
        assert found_tags[tags.GIT_DIRTY] == "false", found.info.run_name
        assert found_tags[tags.MLFLOW_GIT_DIRTY] == "false"
        assert found_tags[tags.FINGERPRINT] == made_from
        # ...and each names the state the invocation left, the one to commit.
        assert found_tags[tags.RESULT_FINGERPRINT] == parent.data.tags[tags.RESULT_FINGERPRINT]
    # A clean tree leaves no patch behind.
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "dvflow")}
    assert "dvflow/git.diff" not in names
    # Committing exactly the state the run left finds that run.
    project.commit("record the run")
    assert project.git("rev-parse", "HEAD^{tree}") == parent.data.tags[tags.RESULT_FINGERPRINT]
    again = dvflow(project, "repro")
    assert parent.info.run_id in again.stdout


def test_runs_carry_mlflows_own_context_tags(project: TmpDir, client: Any) -> None:
    dvflow(project, "repro", "--force")
    parent, stages = _pipeline_runs(client)
    assert parent.data.tags[tags.SOURCE_NAME] == "dvflow repro"
    assert parent.data.tags[tags.SOURCE_TYPE] == "LOCAL"
    assert parent.data.tags[tags.USER]
    # `train` has no MLflow code of its own: dvflow created its run.
    train = stages["train"].data.tags
    assert train[tags.SOURCE_NAME] == "python train.py"
    assert train[tags.SOURCE_TYPE] == "LOCAL"
    assert train[tags.USER] == parent.data.tags[tags.USER]
    assert train[tags.MLFLOW_GIT_DIRTY] == "false"


def test_only_dvc_tracked_data_is_a_dataset(project: TmpDir, client: Any) -> None:
    dvflow(project, "repro", "--force")
    _, stages = _pipeline_runs(client)
    train = stages["train"]
    datasets = {i.dataset.name for i in train.inputs.dataset_inputs}
    assert datasets == {"features.csv"}  # a DVC-cached output of featurize
    # The script is code: a tag, never a dataset.
    assert train.data.tags["dvc.dep.train.py"]
    featurize = {i.dataset.name for i in stages["featurize"].inputs.dataset_inputs}
    assert featurize == {"data/raw.csv", "features.csv"}


def test_in_script_run_under_dvc_repro_is_clean_and_current(project: TmpDir, client: Any) -> None:
    # An edited script, committed: the previous dvc.lock still names its old hash.
    old_lock = (project.path / "dvc.lock").read_text()
    project.gen({"featurize.py": FEATURIZE + "# a comment that changes the hash\n"})
    project.commit("edit featurize")
    earlier = {r.info.run_id for r in all_runs(client)}
    run([dvc_exe(), "repro", "-q"], project.path, env=python_env())
    (script_run,) = [r for r in all_runs(client) if r.info.run_id not in earlier]
    found = script_run.data.tags
    # DVC rewrote dvc.lock and deleted metrics.json while the pipeline ran: still clean.
    assert found[tags.GIT_DIRTY] == "false"
    assert found[tags.FINGERPRINT] == project.git("rev-parse", "HEAD^{tree}")
    new_lock = (project.path / "dvc.lock").read_text()
    recorded = found["dvc.dep.featurize.py"]
    assert recorded in new_lock and recorded not in old_lock


@pytest.mark.parametrize(
    "change",
    [
        {"dvc.yaml": "stages:\n  a: [\n"},
        {
            "params.yaml": "train: [unclosed\n",
            "dvc.yaml": "stages:\n  a:\n    cmd: echo\n    params: [train.lr]\n",
        },
    ],
    ids=["broken-dvc-yaml", "broken-params-file"],
)
def test_bad_input_creates_nothing(
    dvc: TmpDir, monkeypatch: pytest.MonkeyPatch, change: dict[str, str]
) -> None:
    # The default store: mlflow.db in the project, created on first use.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    dvc.gen(change)
    exclude = Path(dvc.git("rev-parse", "--git-path", "info/exclude"))
    exclude = exclude if exclude.is_absolute() else dvc.path / exclude
    before = exclude.read_text() if exclude.exists() else None
    result = dvflow(dvc, "repro", check=False)
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr
    assert not (dvc.path / "mlflow.db").exists()
    assert not (dvc.path / "mlartifacts").exists()
    assert (exclude.read_text() if exclude.exists() else None) == before


def _dot_git(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in (root / ".git").rglob("*")
        if p.is_file() and p.name != "index.lock"
    }


def test_recording_writes_nothing_into_git(project: TmpDir, client: Any) -> None:
    dvflow(project, "repro", "--force")  # the store exists, git ignores it: set up once
    (project.path / "big.bin").write_bytes(os.urandom(30 * 1024 * 1024))
    before = _dot_git(project.path)
    dvflow(project, "snapshot")
    dvflow(project, "repro", "--force")
    run([dvc_exe(), "repro", "-q", "--force", "featurize"], project.path, env=python_env())
    after = _dot_git(project.path)
    # DVC itself may refresh the index; no object, ref or config appeared or grew.
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert changed <= {"index"}, sorted(changed)
    parent, _ = _pipeline_runs_latest(client)
    omitted = client.download_artifacts(parent.info.run_id, "dvflow/git.diff")
    text = Path(omitted).read_text()
    assert '"big.bin"' in text and len(text) < 10_000


def _pipeline_runs_latest(client: Any) -> tuple[Any, list[Any]]:
    runs = all_runs(client)
    parents = [r for r in runs if r.data.tags.get(tags.KIND) == tags.KIND_PIPELINE]
    latest = max(parents, key=lambda r: r.info.start_time)
    return latest, [r for r in runs if r.data.tags.get(tags.PARENT_RUN_ID) == latest.info.run_id]


def test_a_recorder_that_never_answers_is_an_error_in_time(tmp_path: Path) -> None:
    import subprocess
    import sys

    from dvflow.errors import TrackingStoreError
    from dvflow.recorder.link import RecorderLink
    from dvflow.workspace import Workspace

    run(["git", "init", "-q"], tmp_path)
    link = RecorderLink(Workspace.find(tmp_path), "inv", {})
    # A recorder process stuck on a store that never lets go: it reads, never answers.
    link.process = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(60)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with pytest.raises(TrackingStoreError, match="did not answer within 1 s"):
        link._answer(timeout=1)
    assert link.process.wait(timeout=10) != 0  # stopped, not left behind


def test_a_line_per_stage_as_it_ends_silenced_by_quiet(project: TmpDir) -> None:
    shown = dvflow(project, "repro", "--force")
    output = shown.stdout + shown.stderr
    assert "dvflow: stage 'featurize' ran in" in output
    assert "dvflow: stage 'train' ran in" in output
    quiet = dvflow(project, "repro", "--force", "-q")
    assert "dvflow: stage '" not in quiet.stdout + quiet.stderr

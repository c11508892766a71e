"""`dvflow repro` takes every option of `dvc repro`, and each one reaches DVC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

# a -> b, and c on its own. a writes the same output whatever a.in holds, so that a
# change of a.in re-runs a but leaves b up to date (what --force-downstream overrides).
PIPELINE = """\
stages:
  a:
    cmd: python a.py
    deps: [a.in]
    outs: [a.out]
  b:
    cmd: python b.py
    deps: [a.out]
    outs: [b.out]
    metrics: [m.json: {cache: false}]
  c:
    cmd: python c.py
    deps: [c.in]
    outs: [c.out]
"""
SCRIPTS = {
    "a.py": "open('a.out', 'w').write('x')\n",
    "b.py": "import json\njson.dump({'score': 1.5}, open('m.json', 'w'))\n"
    "open('b.out', 'w').write(open('a.out').read() * 2)\n",
    "c.py": "open('c.out', 'w').write(open('c.in').read())\n",
}


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    dvc.gen({"a.in": "1", "c.in": "1", "dvc.yaml": PIPELINE, **SCRIPTS})
    dvc.commit("pipeline")
    return dvc


def repro(project: TmpDir, *args: str, check: bool = True) -> dict[str, Any]:
    """`dvflow repro --json ARGS`: the statuses of the stages, and the rest."""
    result = dvflow(project, "repro", "--json", *args, check=check)
    data: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    data["statuses"] = {s["stage"]: s["status"] for s in data.get("stages", [])}
    data["returncode"], data["stderr"] = result.returncode, result.stderr
    return data


def test_pipeline_runs_the_whole_pipeline_of_its_target(project: TmpDir) -> None:
    assert repro(project, "a")["statuses"] == {"a": "ran"}
    assert repro(project, "-p", "a")["statuses"] == {"a": "skipped", "b": "ran"}


def test_glob_expands_wildcard_targets(project: TmpDir) -> None:
    refused = repro(project, "[c]", check=False)
    assert refused["returncode"] == 5
    assert repro(project, "--glob", "[c]")["statuses"] == {"c": "ran"}


def test_force_downstream_reruns_what_follows_a_changed_stage(project: TmpDir) -> None:
    repro(project)
    project.gen({"a.in": "2"})
    assert repro(project, "b")["statuses"] == {"a": "ran", "b": "skipped"}
    project.gen({"a.in": "3"})
    assert repro(project, "--force-downstream", "b")["statuses"] == {"a": "ran", "b": "ran"}


def _cached(project: TmpDir, path: str) -> bool:
    import yaml

    lock = yaml.safe_load((project.path / "dvc.lock").read_text())
    stage = next(s for s in lock["stages"].values() for o in s.get("outs", []) if o["path"] == path)
    md5 = next(o["md5"] for o in stage["outs"] if o["path"] == path)
    return (project.path / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).exists()


def test_no_commit_keeps_outputs_out_of_the_cache(project: TmpDir) -> None:
    assert repro(project, "--no-commit", "c")["statuses"] == {"c": "ran"}
    assert not _cached(project, "c.out")
    assert repro(project, "a")["statuses"] == {"a": "ran"}
    assert _cached(project, "a.out")


def test_no_run_cache_runs_what_the_run_cache_would_restore(project: TmpDir) -> None:
    repro(project, "c")
    project.gen({"c.in": "2"})
    repro(project, "c")
    project.gen({"c.in": "1"})  # DVC's run cache has this state: restored, not run
    assert repro(project, "c")["statuses"] == {"c": "restored"}
    project.gen({"c.in": "2"})
    assert repro(project, "--no-run-cache", "c")["statuses"] == {"c": "ran"}


def test_allow_missing_skips_a_stage_whose_only_change_is_missing_data(
    project: TmpDir,
) -> None:
    repro(project, "c")
    (project.path / "c.out").unlink()
    assert repro(project, "--allow-missing", "c")["statuses"] == {"c": "skipped"}
    assert not (project.path / "c.out").exists()
    assert repro(project, "c")["statuses"]["c"] != "skipped"
    assert (project.path / "c.out").exists()


def test_interactive_asks_before_each_stage(project: TmpDir) -> None:
    # No terminal to answer DVC's question: DVC takes it as a no, as `dvc repro -i` does.
    refused = repro(project, "-i", "c", check=False)
    assert refused["returncode"] == 255
    assert "aborted by the user" in refused["stderr"]
    assert not (project.path / "c.out").exists()


def test_up_to_date_json_has_the_metrics_dvc_metrics_show_has(project: TmpDir, client: Any) -> None:
    repro(project)
    project.commit("ran")
    up_to_date = repro(project)
    assert up_to_date["up_to_date"] is True and up_to_date["parent_run_id"] is None
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    assert shown  # DVC's own view of the same file
    assert up_to_date["metrics"] == {"score": 1.5}


def test_pipeline_runs_are_named_like_dvc_exp_show_rows(project: TmpDir, client: Any) -> None:
    head = project.git("rev-parse", "--short=7", "HEAD")
    repro(project, "a")
    project.gen({"c.in": "uncommitted"})
    quiet = dvflow(project, "repro", "-q", "c")
    assert quiet.stdout == "" and quiet.stderr == ""
    names = sorted(
        r.info.run_name for r in all_runs(client) if r.data.tags[tags.KIND] == tags.KIND_PIPELINE
    )
    assert names == [f"main@{head}", f"main@{head} (dirty)"]
    stage_names = {
        r.info.run_name for r in all_runs(client) if r.data.tags[tags.KIND] == tags.KIND_STAGE
    }
    assert stage_names == {"a", "c"}


def test_mlflow_experiment_id_chooses_the_experiment(
    project: TmpDir, client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    experiment_id = client.create_experiment("by-id", artifact_location=tmp_path.as_uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    result = repro(project, "c")
    assert result["experiment"] == "by-id"
    run = client.get_run(result["parent_run_id"])
    assert run.info.experiment_id == experiment_id
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "999")
    missing = repro(project, "c", "-f", check=False)
    assert missing["returncode"] == 4 and "MLFLOW_EXPERIMENT_ID=999" in missing["stderr"]

"""`dvflow repro` on real pipelines: one parent run, one run per stage, nothing RUNNING."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow, dvflow_exe, python_env
from tests.conftest import run as run_command

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

PREPARE = """\
import sys
rows = open("data/raw.csv").read().splitlines()
print("prepare: warming up", file=sys.stderr)
open("prepared.csv", "w").write("\\n".join(rows[: 1 + int(sys.argv[1])]) + "\\n")
"""

# Uses MLflow directly, unmodified: its run must become the stage's run.
TRAIN_WITH_MLFLOW = """\
import json
import mlflow
import yaml

params = yaml.safe_load(open("params.yaml"))["train"]
with mlflow.start_run():
    mlflow.log_param("solver", "plain-mlflow")
    mlflow.log_metric("loss", 0.25)
json.dump({"acc": params["lr"] * 3, "report": {"f1": 0.5, "label": "x"}}, open("metrics.json", "w"))
"""

PIPELINE = """\
stages:
  prepare:
    cmd: python prepare.py 2
    deps: [prepare.py, data/raw.csv]
    params: [prepare.rows]
    outs: [prepared.csv]
  train:
    cmd: python train.py
    deps: [train.py, prepared.csv]
    params: [train.lr]
    metrics: [metrics.json: {cache: false}]
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    dvc.gen(
        {
            "data/raw.csv": "a,b\n1,2\n3,4\n5,6\n",
            "prepare.py": PREPARE,
            "train.py": TRAIN_WITH_MLFLOW,
            "params.yaml": "prepare:\n  rows: 2\ntrain:\n  lr: 0.1\n",
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.commit("pipeline")
    return dvc


def _by_kind(client: Any) -> tuple[list[Any], dict[str, Any]]:
    runs = all_runs(client)
    parents = [r for r in runs if r.data.tags.get(tags.KIND) == tags.KIND_PIPELINE]
    stages = {r.data.tags[tags.DVC_STAGE]: r for r in runs if r.data.tags.get(tags.KIND) == "stage"}
    return parents, stages


def test_parent_and_stage_runs(project: TmpDir, client: Any) -> None:
    result = dvflow(project, "repro")
    assert "Running stage 'prepare'" in result.stdout  # DVC's own output reaches the user
    assert "recorded run" in result.stdout
    runs = all_runs(client)
    assert len(runs) == 3, "no stray run: the script's own mlflow run was adopted"
    (parent,), stages = _by_kind(client)
    assert set(stages) == {"prepare", "train"}
    assert parent.info.status == "FINISHED"
    lock = (project.path / "dvc.lock").read_text()
    for name, run in stages.items():
        assert run.info.status == "FINISHED"
        assert run.info.run_name == name
        assert run.data.tags[tags.PARENT_RUN_ID] == parent.info.run_id
        assert run.data.tags[tags.STAGE_STATUS] == "ran"
        assert run.data.tags[tags.STAGE_EXIT_CODE] == "0"
        assert float(run.data.tags[tags.STAGE_DURATION]) > 0
    prepare, train = stages["prepare"], stages["train"]
    assert prepare.data.tags["dvc.out.prepared.csv"] in lock
    assert train.data.tags["dvc.dep.prepared.csv"] == prepare.data.tags["dvc.out.prepared.csv"]
    assert prepare.data.params == {"prepare.rows": "2"}
    # The script's own calls landed in the stage run, beside dvflow's records.
    assert train.data.params == {"train.lr": "0.1", "solver": "plain-mlflow"}
    assert train.data.metrics == {"loss": 0.25, "acc": pytest.approx(0.3), "report.f1": 0.5}
    assert prepare.info.start_time <= train.info.start_time
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "dvflow")}
    assert {"dvflow/dvc.lock", "dvflow/lineage.svg", "dvflow/lineage.txt"} <= artifacts
    svg = Path(client.download_artifacts(parent.info.run_id, "dvflow/lineage.svg")).read_text()
    assert svg.startswith("<svg") and "prepare [ran]" in svg and "train [ran]" in svg
    assert parent.data.tags[tags.FINGERPRINT]
    assert parent.data.params == {"prepare.rows": "2", "train.lr": "0.1"}
    # The parent shows the pipeline's metrics, as `dvc metrics show` lists them.
    assert parent.data.metrics == {"acc": pytest.approx(0.3), "report.f1": 0.5}


def test_unchanged_stages_are_recorded_as_skipped(project: TmpDir, client: Any) -> None:
    dvflow(project, "repro")
    project.commit("first run")
    project.gen({"params.yaml": "prepare:\n  rows: 2\ntrain:\n  lr: 0.2\n"})
    dvflow(project, "repro")
    parents, _ = _by_kind(client)
    latest = max(parents, key=lambda r: r.info.start_time)
    children = [
        r for r in all_runs(client) if r.data.tags.get(tags.PARENT_RUN_ID) == latest.info.run_id
    ]
    status = {r.data.tags[tags.DVC_STAGE]: r.data.tags[tags.STAGE_STATUS] for r in children}
    assert status == {"prepare": "skipped", "train": "ran"}
    skipped = next(r for r in children if r.data.tags[tags.DVC_STAGE] == "prepare")
    assert skipped.data.tags["dvc.out.prepared.csv"] in (project.path / "dvc.lock").read_text()
    assert tags.STAGE_DURATION not in skipped.data.tags
    # The recorder started only with `train` (dvc.lock said the pipeline had run): the
    # script's own mlflow.start_run() still joined the stage's run, no stray run.
    train = next(r for r in children if r.data.tags[tags.DVC_STAGE] == "train")
    assert train.data.params["solver"] == "plain-mlflow" and len(all_runs(client)) == 6


def test_an_up_to_date_pipeline_never_starts_the_recorder(project: TmpDir) -> None:
    dvflow(project, "repro")
    project.commit("recorded")
    up_to_date = _spied_repro(project)
    assert up_to_date["up_to_date"] and up_to_date["spawned"] == 0  # 1.7 s of CPU spared
    forced = _spied_repro(project, "--force")
    assert forced["parent_run_id"] and forced["spawned"] == 1  # at once, while DVC loads


def test_nothing_to_do_creates_no_run_and_names_the_last(project: TmpDir, client: Any) -> None:
    first = json.loads(dvflow(project, "repro", "--json").stdout)
    project.commit("recorded")
    before = len(all_runs(client))
    again = dvflow(project, "repro")
    assert "up to date" in again.stdout
    assert len(all_runs(client)) == before
    assert not _recorders_in(project.path), "the unused recorder process was stopped"
    # The state after the first run is exactly the committed one: the index names it.
    assert first["parent_run_id"] in again.stdout
    recorded = json.loads(dvflow(project, "repro", "--record", "--json").stdout)
    assert recorded["parent_run_id"] and len(all_runs(client)) == before + 3
    statuses = {s["stage"]: s["status"] for s in recorded["stages"]}
    assert statuses == {"prepare": "skipped", "train": "skipped"}


def test_failing_stage(project: TmpDir, client: Any) -> None:
    project.gen(
        {"prepare.py": "import sys\nprint('boom: planted failure', file=sys.stderr)\nsys.exit(3)\n"}
    )
    dvc_yaml = (project.path / "dvc.yaml").read_bytes()
    result = dvflow(project, "repro", check=False)
    assert result.returncode == 255  # what `dvc repro` returns
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("dvflow: error:")
    runs = all_runs(client)
    assert all(r.info.status != "RUNNING" for r in runs)
    (parent,), stages = _by_kind(client)
    assert parent.info.status == "FAILED"
    assert stages["prepare"].info.status == "FAILED"
    assert stages["prepare"].data.tags[tags.STAGE_EXIT_CODE] == "3"
    tail = client.download_artifacts(stages["prepare"].info.run_id, "dvflow/stderr-tail.txt")
    assert "boom: planted failure" in Path(tail).read_text()
    assert stages["train"].data.tags[tags.STAGE_STATUS] == "not-run"
    assert (project.path / "dvc.yaml").read_bytes() == dvc_yaml


def test_sigterm_ends_open_runs_killed(project: TmpDir, client: Any) -> None:
    project.gen({"prepare.py": "import time\ntime.sleep(60)\n"})
    process = subprocess.Popen(
        [dvflow_exe(), "repro"],
        cwd=project.path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _runs_stage(process.pid, "prepare.py"):
        time.sleep(0.2)
    # The signal must find the recorder ready: wait until it holds the store open.
    store = Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    while time.monotonic() < deadline and not _recorder_holds(project.path, store):
        time.sleep(0.2)
    assert _recorder_holds(project.path, store), "the recorder never opened the store"
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 252, err  # DVC's code for an interrupted command
    assert "interrupted" in err
    runs = all_runs(client)
    assert runs and all(r.info.status == "KILLED" for r in runs), [
        (r.info.run_name, r.info.status) for r in runs
    ]


def _recorders_in(folder: Path) -> list[int]:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        if "dvflow.recorder.process" in " ".join(proc.info["cmdline"] or []) and proc.info[
            "cwd"
        ] == str(folder):
            found.append(proc.pid)
    return found


def _recorder_holds(folder: Path, db: Path) -> bool:
    import psutil

    for pid in _recorders_in(folder):
        with contextlib.suppress(psutil.Error):
            if any(Path(f.path) == db for f in psutil.Process(pid).open_files()):
                return True
    return False


def _runs_stage(pid: int, script: str) -> bool:
    import psutil

    children = psutil.Process(pid).children(recursive=True)
    return any(script in " ".join(child.cmdline()) for child in children)


@pytest.mark.parametrize(
    ("change", "expected", "code"),
    [
        ({"dvc.yaml": "stages:\n  a: [\n"}, "dvc.yaml", 5),
        # DVC finds a missing param when it reaches the stage: its own exit code.
        ({"params.yaml": "prepare:\n  rows: 2\n"}, "train.lr", 255),
    ],
    ids=["broken-dvc-yaml", "missing-param"],
)
def test_bad_project_input_is_one_line(
    project: TmpDir, client: Any, change: dict[str, str], expected: str, code: int
) -> None:
    project.gen(change)
    before = {p: p.read_bytes() for p in project.path.glob("*.yaml")}
    result = dvflow(project, "repro", check=False)
    assert result.returncode == code
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert all(r.info.status != "RUNNING" for r in all_runs(client))
    assert {p: p.read_bytes() for p in project.path.glob("*.yaml")} == before


def test_unknown_target_and_not_a_project(project: TmpDir, tmp_path: Path) -> None:
    result = dvflow(project, "repro", "nosuchstage", check=False)
    assert result.returncode == 5
    assert "nosuchstage" in result.stderr and "Traceback" not in result.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    outside = dvflow(TmpDir(plain), "repro", check=False)
    assert outside.returncode == 253  # DVC's code outside a DVC repository
    assert "DVC project" in outside.stderr


DVFLOW_SCRIPT = """\
import os
from pathlib import Path
import dvflow

with dvflow.start_run():
    lr = dvflow.params()["train"]["lr"]
    dvflow.log_metrics({"from_script": lr})
Path("plots").mkdir(exist_ok=True)
Path("plots/cm.png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n")
"""


def test_in_script_api_joins_the_stage_run(dvc: TmpDir, tracking_uri: str, client: Any) -> None:
    dvc.gen(
        {
            "train.py": DVFLOW_SCRIPT,
            "params.yaml": "train:\n  lr: 0.5\n",
            "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
            "    params: [train.lr]\n    plots:\n      - plots/cm.png:\n          cache: false\n",
        }
    )
    dvc.commit("pipeline")
    dvflow(dvc, "repro")
    runs = all_runs(client)
    assert len(runs) == 2, [r.info.run_name for r in runs]
    (parent,), stages = _by_kind(client)
    train = stages["train"]
    assert train.data.tags[tags.PARENT_RUN_ID] == parent.info.run_id
    assert train.data.metrics == {"from_script": 0.5}
    assert train.data.params == {"train.lr": "0.5"}
    assert [a.path for a in client.list_artifacts(train.info.run_id, "plots")] == ["plots/cm.png"]


def test_dry_runs_and_records_nothing(project: TmpDir, client: Any) -> None:
    # `dvc repro --dry` of a stage whose input an earlier stage would write fails in
    # some DVC releases and not in others: dvflow exits exactly as the installed DVC.
    plain = project.dvc("repro", "--dry", check=False)
    result = dvflow(project, "repro", "--dry", check=False)
    assert result.returncode == plain.returncode, result.stderr
    assert "Traceback" not in result.stderr
    assert "python prepare.py 2" in result.stdout
    assert not (project.path / "prepared.csv").exists()
    assert all_runs(client) == []


def test_verbose_shows_the_traceback_and_keeps_the_exit_code(project: TmpDir) -> None:
    result = dvflow(project, "--verbose", "repro", "nosuchstage", check=False)
    assert result.returncode == 5
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("dvflow: error:")


def test_a_shell_mlflow_run_id_does_not_capture_stage_runs(
    project: TmpDir, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = client.create_experiment("elsewhere", artifact_location=tmp_path.as_uri())
    stray = client.create_run(other).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", stray)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", other)
    dvflow(project, "repro")
    assert client.get_run(stray).data.metrics == {}
    _, stages = _by_kind(client)
    assert stages["train"].data.metrics["loss"] == 0.25


def test_dvcs_index_is_not_rebuilt_for_every_stage(dvc: TmpDir, tracking_uri: str) -> None:
    """DVC drops its index after every stage it runs; dvflow's reading of each stage
    (data versions, top-level plots) once rebuilt it, parsing every dvc.yaml and
    dvc.lock: a 50-stage pipeline took twice as long as under `dvc repro`."""
    stages = "".join(
        f"  s{i}:\n    cmd: echo {i} > s{i}.txt\n    outs: [s{i}.txt]\n" for i in range(8)
    )
    dvc.gen({"dvc.yaml": f"stages:\n{stages}"})
    dvc.commit("eight stages")
    result = _spied_repro(dvc)
    assert result["statuses"] == ["ran"] * 8
    assert result["index_builds"] <= 4, f"DVC's index was built {result['index_builds']} times"


# `dvflow repro` with a count of the recorder processes it starts and of the times it
# builds DVC's index; in a process of its own (DVC and the recorder link leave threads
# and state behind in the process that runs them).
SPIED_REPRO = """\
import json, sys
from dvc.repo.index import Index
from dvflow.recorder.link import RecorderLink
from dvflow.repro.options import ReproOptions
from dvflow.repro.pipeline import reproduce

counts = {"spawned": 0, "index_builds": 0}
spawn, from_repo = RecorderLink.spawn, Index.from_repo.__func__

def spawn_counted(link):
    if link.process is None:  # spawn() is idempotent: count the processes
        counts["spawned"] += 1
    spawn(link)

def from_repo_counted(cls, *args, **kwargs):
    counts["index_builds"] += 1
    return from_repo(cls, *args, **kwargs)

RecorderLink.spawn = spawn_counted
Index.from_repo = classmethod(from_repo_counted)
result = reproduce(ReproOptions(force="--force" in sys.argv))
counts.update(
    up_to_date=result.up_to_date,
    parent_run_id=result.parent_run_id,
    statuses=[stage.status.value for stage in result.stages],
)
print(json.dumps(counts))
"""


def _spied_repro(project: TmpDir, *args: str) -> dict[str, Any]:
    done = run_command([sys.executable, "-c", SPIED_REPRO, *args], project.path, env=python_env())
    counts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts

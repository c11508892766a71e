"""Nothing lost: the offline spool and `dvflow sync`, a recorder that dies, signals to
the whole process group, runs abandoned by a killed dvflow, a busy project."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow, dvflow_exe, python_env

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

UNREACHABLE = "http://127.0.0.1:9"

# Uses MLflow itself: offline, its run goes to the local store and is synced later.
SCRIPT_WITH_MLFLOW = """\
import json, mlflow
with mlflow.start_run():
    mlflow.log_metric("own", 1.5, step=3)
json.dump({"acc": 0.9}, open("m.json", "w"))
"""

# Kills the recorder process of the dvflow that runs this stage (SIGKILL, as the OOM
# killer does).
KILL_RECORDER = """\
import time
import psutil
for ancestor in psutil.Process().parents():
    for child in ancestor.children():
        if "dvflow.recorder.process" in " ".join(child.cmdline()):
            child.kill()
            # Its parent (dvflow) reaps it: here it only becomes a zombie.
            while child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.05)
open("b.txt", "w").write("b")
"""

PIPELINE = """\
stages:
  a:
    cmd: python a.py
    deps: [a.py]
    outs: [a.txt]
  b:
    cmd: python b.py
    deps: [b.py, a.txt]
    outs: [b.txt]
  c:
    cmd: python c.py
    deps: [c.py, b.txt]
    metrics: [m.json: {cache: false}]
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    dvc.gen(
        {
            "a.py": 'open("a.txt", "w").write("a")\n',
            "b.py": 'open("b.txt", "w").write("b")\n',
            "c.py": SCRIPT_WITH_MLFLOW,
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.commit("pipeline")
    return dvc


def _spool(project: TmpDir) -> list[Path]:
    return sorted((project.path / ".dvflow" / "tmp" / "spool").glob("*.jsonl"))


def _summary(client: Any) -> list[tuple[str, str, str]]:
    return sorted(
        (r.data.tags.get(tags.KIND, ""), r.info.run_name, r.info.status) for r in all_runs(client)
    )


FINISHED_RUNS = [
    ("pipeline", "*", "FINISHED"),
    ("stage", "a", "FINISHED"),
    ("stage", "b", "FINISHED"),
    ("stage", "c", "FINISHED"),
]


def _matches(found: list[tuple[str, str, str]], expected: list[tuple[str, str, str]]) -> bool:
    return len(found) == len(expected) and all(
        f[0] == e[0] and e[1] in ("*", f[1]) and f[2] == e[2]
        for f, e in zip(found, expected, strict=True)
    )


def test_unreachable_store_spools_and_sync_uploads_once(
    project: TmpDir, client: Any, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE)
    result = dvflow(project, "repro")
    # The pipeline ran to the end; one warning at the start says where records wait.
    assert (project.path / "m.json").exists()
    assert "cannot be reached" in result.stderr and "dvflow sync" in result.stderr
    assert "Traceback" not in result.stderr
    [journal] = _spool(project)
    assert UNREACHABLE in journal.read_text()
    # The spool is dvflow's local state: it never makes the tree dirty.
    assert ".dvflow" not in project.git("status", "--porcelain")
    status = json.loads(dvflow(project, "sync", "--status", "--json").stdout)
    assert [(s["stages"], s["finished"]) for s in status] == [(3, "FINISHED")]
    # The store is back.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    assert all_runs(client) == []
    dvflow(project, "sync")
    assert _matches(_summary(client), FINISHED_RUNS), _summary(client)
    assert _spool(project) == []
    runs = {r.info.run_name: r for r in all_runs(client)}
    # The script's own run (logged offline) became the stage's run, history intact.
    c = runs["c"]
    assert c.data.metrics == {"own": 1.5, "acc": 0.9}
    assert [m.step for m in client.get_metric_history(c.info.run_id, "own")] == [3]
    assert (
        c.data.tags[tags.PARENT_RUN_ID] == runs[next(n for n in runs if n not in "abc")].info.run_id
    )
    assert runs["a"].data.tags[tags.DVC_OUT_PREFIX + "a.txt"]
    # Runs end when the pipeline ended, not when they were synced.
    parent = next(r for r in all_runs(client) if r.data.tags[tags.KIND] == "pipeline")
    assert parent.info.end_time < time.time() * 1000 - 1
    # Twice: nothing new.
    again = dvflow(project, "sync")
    assert "nothing waits" in again.stdout
    assert len(all_runs(client)) == 4


def test_a_sync_killed_halfway_completes_without_duplicates(
    project: TmpDir, client: Any, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE)
    dvflow(project, "repro")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    sync = subprocess.Popen(
        [dvflow_exe(), "sync"], cwd=project.path, env=python_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # Killed as soon as the first run reached the store.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all_runs(client) and sync.poll() is None:
        time.sleep(0.05)
    sync.kill()
    sync.wait()
    partial = _summary(client)
    assert len(partial) < 4 or any(s == "RUNNING" for _k, _n, s in partial), partial
    assert len(_spool(project)) == 1  # kept until the store has it all
    dvflow(project, "sync")
    assert _matches(_summary(client), FINISHED_RUNS), _summary(client)
    assert _spool(project) == []


def test_a_killed_recorder_loses_no_stage(project: TmpDir, client: Any) -> None:
    project.gen({"b.py": KILL_RECORDER})
    project.commit("b kills the recorder")
    result = dvflow(project, "repro")
    assert "recording was interrupted" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert _matches(_summary(client), FINISHED_RUNS), _summary(client)
    assert _spool(project) == []


def test_sigterm_to_the_process_group_leaves_nothing_running(project: TmpDir, client: Any) -> None:
    # What `timeout`, CI cancellation, systemd and Slurm do: SIGTERM to the whole group.
    project.gen({"b.py": "import os, signal, time\nos.killpg(0, signal.SIGTERM)\ntime.sleep(30)\n"})
    project.commit("b is cancelled")
    process = subprocess.run(
        [dvflow_exe(), "repro"], cwd=project.path, env=python_env(),
        capture_output=True, text=True, start_new_session=True, timeout=300,
    )  # fmt: skip
    assert process.returncode == 252, process.stderr  # DVC's code for an interruption
    assert "interrupted" in process.stderr and "Traceback" not in process.stderr
    found = {(r.info.run_name, r.info.status) for r in all_runs(client)}
    assert ("a", "FINISHED") in found and ("b", "KILLED") in found, found
    assert all(status != "RUNNING" for _name, status in found), found


def test_runs_abandoned_by_a_killed_dvflow_are_closed(project: TmpDir, client: Any) -> None:
    # SIGKILL to everything once stage a is in the store and b's own run exists (the
    # recorder creates it as b starts, right after it closes a's): they stay RUNNING.
    db = os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")
    project.gen(
        {
            "b.py": (
                "import os, signal, sqlite3, time\n"
                "deadline = time.time() + 120\n"
                "while time.time() < deadline:\n"
                f"    with sqlite3.connect({db!r}) as c:\n"
                "        if c.execute(\"select count(*) from runs where status='FINISHED'\")"
                ".fetchone()[0] and c.execute(\"select count(*) from runs where name='b'\")"
                ".fetchone()[0]:\n"
                "            break\n"
                "    time.sleep(0.1)\n"
                "os.killpg(0, signal.SIGKILL)\n"
            )
        }
    )
    project.commit("b kills everything")
    process = subprocess.run(
        [dvflow_exe(), "repro"], cwd=project.path, env=python_env(),
        capture_output=True, text=True, start_new_session=True, timeout=300,
    )  # fmt: skip
    assert process.returncode == -signal.SIGKILL
    assert any(r.info.status == "RUNNING" for r in all_runs(client))
    assert "1 invocation" in dvflow(project, "sync", "--status").stdout
    result = dvflow(project, "sync")
    # The parent, and b's run: it existed RUNNING from the moment b started.
    assert "closed 2 run(s) left RUNNING" in result.stdout, result.stdout
    runs = {r.info.run_name: r for r in all_runs(client)}
    parent = next(r for r in runs.values() if r.data.tags[tags.KIND] == "pipeline")
    assert parent.info.status == "KILLED"
    assert parent.data.tags[tags.ABANDONED] == "true"
    assert runs["a"].info.status == "FINISHED"
    assert runs["b"].info.status == "KILLED"
    assert runs["b"].data.tags[tags.ABANDONED] == "true"
    assert all(r.info.status != "RUNNING" for r in runs.values())
    assert _spool(project) == []


def test_a_busy_project_records_nothing(project: TmpDir, client: Any) -> None:
    gate = project.path / "gate"
    project.gen(
        {
            "a.py": (
                "import pathlib, time\n"
                "pathlib.Path('running').write_text('')\n"
                f"while not pathlib.Path({str(gate)!r}).exists():\n"
                "    time.sleep(0.1)\n"
                "open('a.txt', 'w').write('a')\n"
            )
        }
    )
    project.commit("a waits")
    first = subprocess.Popen(
        [dvflow_exe(), "repro"], cwd=project.path, env=python_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (project.path / "running").exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = dvflow(project, "repro", check=False)
    finally:
        gate.write_text("")
        first.communicate(timeout=300)
    assert second.returncode == 255, second.stderr
    assert "is busy" in second.stderr and "PID" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0
    parents = [r for r in all_runs(client) if r.data.tags[tags.KIND] == "pipeline"]
    assert len(parents) == 1
    assert all(r.info.status == "FINISHED" for r in all_runs(client))

"""A stage's script finds its run without the stage waiting for it."""

import os
import threading
import time
from pathlib import Path

import pytest

from dvflow import env
from dvflow.recorder.rendezvous import forget, join_stage_run, publish, run_file


def _stage_env(monkeypatch: pytest.MonkeyPatch, path: Path, pid: int) -> None:
    monkeypatch.setenv(env.DVFLOW_STAGE_RUN_FILE, str(path))
    monkeypatch.setenv(env.DVFLOW_RECORDER_PID, str(pid))
    monkeypatch.delenv(env.MLFLOW_RUN_ID, raising=False)


def test_the_script_waits_for_its_run_and_joins_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = run_file(tmp_path / "inv", "train@0")
    _stage_env(monkeypatch, path, os.getpid())
    later = threading.Timer(0.3, publish, (path, "0123456789abcdef"))
    later.start()
    assert join_stage_run(timeout=30) == "0123456789abcdef"
    later.join()
    assert os.environ[env.MLFLOW_RUN_ID] == "0123456789abcdef"
    # Once: a second import (or a child process) does not join again.
    assert env.DVFLOW_STAGE_RUN_FILE not in os.environ
    forget(tmp_path / "inv")
    assert not (tmp_path / "inv").exists()


def test_no_run_created_or_no_recorder_means_no_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run"
    publish(path, None)  # the recorder could not create it
    _stage_env(monkeypatch, path, os.getpid())
    assert join_stage_run() is None
    assert env.MLFLOW_RUN_ID not in os.environ
    dead = 2**22 + 12345  # above Linux's pid_max: no such process
    _stage_env(monkeypatch, tmp_path / "never", dead)
    started = time.monotonic()
    assert join_stage_run(timeout=30) is None
    assert time.monotonic() - started < 5


def test_outside_a_stage_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(env.DVFLOW_STAGE_RUN_FILE, raising=False)
    monkeypatch.setenv(env.MLFLOW_RUN_ID, "mine")
    assert join_stage_run() is None
    assert os.environ[env.MLFLOW_RUN_ID] == "mine"


def test_a_recorder_that_exited_unreaped_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc: a zombie cannot be told from a live process")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{gone.pid}/stat")
        deadline = time.monotonic() + 30
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.02)
        _stage_env(monkeypatch, tmp_path / "never", gone.pid)  # a zombie: kill(0) works
        started = time.monotonic()
        assert join_stage_run(timeout=30) is None
        assert time.monotonic() - started < 5
    finally:
        gone.wait()

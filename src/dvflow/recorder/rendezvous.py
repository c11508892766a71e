"""The stage's run handed to its script without making the stage wait for it.

As DVC starts a stage's command, ``dvflow repro`` asks the recorder for the stage's run
and starts the command at once: the command gets ``DVFLOW_STAGE_RUN_FILE``, where the
recorder writes the run's id once created (an empty file: none was created), and
``DVFLOW_RECORDER_PID``. A Python script that imports mlflow loads dvflow's run context
provider, which calls :func:`join_stage_run`: it waits for the file (importing mlflow
takes longer than creating a run, so it rarely waits at all) and sets
``MLFLOW_RUN_ID``, which MLflow's ``start_run()`` (and ``dvflow.start_run()``) joins.
A command that never imports mlflow never waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path

from dvflow import env

# How long a script waits for its stage's run: the recorder may be writing the
# previous stage's run, or still opening a remote store.
JOIN_TIMEOUT_S = 60.0
_POLL_S = 0.02


def run_file(folder: Path, address: str) -> Path:
    """Where the run id of the stage at ``address`` is written, in ``folder``."""
    return folder / hashlib.sha1(address.encode("utf-8")).hexdigest()[:16]


def publish(path: Path, run_id: str | None) -> None:
    """Write ``run_id`` (None: no run was created) where the stage's script looks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(run_id or "", encoding="utf-8")
    partial.replace(path)  # the script reads a whole id or nothing


def _alive(pid: str) -> bool:
    try:
        number = int(pid)
        os.kill(number, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    # A recorder that exited (it could not open a locked store, say) answers kill(0)
    # until dvflow's process reaps it: a zombie is no recorder to wait for.
    try:
        stat = Path(f"/proc/{number}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # no /proc (macOS): kill(0) is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def join_stage_run(timeout: float = JOIN_TIMEOUT_S) -> str | None:
    """Under ``dvflow repro``: set ``MLFLOW_RUN_ID`` to the stage's run, once the
    recorder created it. Returns it; None outside a stage, when ``MLFLOW_RUN_ID`` is
    set already, or when no run came (the script's run is then a child of the
    stage's). Never raises."""
    try:
        path = os.environ.pop(env.DVFLOW_STAGE_RUN_FILE, None)
        pid = os.environ.pop(env.DVFLOW_RECORDER_PID, "")
        if not path or os.environ.get(env.MLFLOW_RUN_ID):
            return None
        deadline = time.monotonic() + timeout
        file = Path(path)
        while not file.exists():
            if time.monotonic() > deadline or not _alive(pid):
                return None
            time.sleep(_POLL_S)
        run_id = file.read_text(encoding="utf-8").strip()
        if run_id:
            os.environ[env.MLFLOW_RUN_ID] = run_id
        return run_id or None
    except Exception:  # a plug-in of every MLflow user's: never in the way
        return None


def forget(folder: Path) -> None:
    """Remove the run files of an invocation (it ended)."""
    with contextlib.suppress(OSError):
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()

"""``dvflow ui``: MLflow's UI on the project's own store, on 127.0.0.1.

It resolves the store exactly as ``dvflow repro`` and ``dvflow.start_run`` do, so the
UI shows the runs they wrote. A tracking server (an ``http(s)://`` URI) has its own UI:
dvflow only prints its address.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvflow.project import find_project
from dvflow.tracking.store import display_uri, ensure_store, sqlite_path
from dvflow.workspace import resolve_target

DEFAULT_PORT = 5000
HOST = "127.0.0.1"


@dataclass(frozen=True)
class UiPlan:
    """What ``dvflow ui`` will do: serve a local store, or point at a server."""

    tracking_uri: str
    url: str
    command: list[str] | None


def plan_ui(port: int = DEFAULT_PORT, start: Path | None = None) -> UiPlan:
    """Resolve the store and build the ``mlflow ui`` command for it (None for a server)."""
    project = find_project(start)
    target = resolve_target(project)
    uri = target.tracking_uri
    if uri.startswith(("http://", "https://")):
        return UiPlan(display_uri(uri), display_uri(uri), None)
    ensure_store(uri, target.artifacts)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    db = sqlite_path(uri)
    if db is not None and target.artifacts is not None:
        command += ["--default-artifact-root", target.artifacts.as_uri()]
    return UiPlan(display_uri(uri), f"http://{HOST}:{port}", command)


def shown_command(plan: UiPlan) -> list[str] | None:
    """The command as it may be printed: credentials stripped."""
    return [display_uri(part) for part in plan.command] if plan.command else None


def serve(plan: UiPlan) -> int:
    """Run MLflow's UI in the foreground until Ctrl-C or SIGTERM; return its exit code.

    MLflow's server starts worker processes of its own; it runs in a process group of
    its own so that stopping dvflow stops all of them.
    """
    if plan.command is None:
        return 0

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    server = subprocess.Popen(plan.command, start_new_session=True)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

"""``dvflow ui``: MLflow's UI on the project's own store, on 127.0.0.1.

It resolves the store exactly as ``dvflow repro`` and ``dvflow.start_run`` do, so the
UI shows the runs they wrote. A tracking server (an ``http(s)://`` URI) has its own UI:
dvflow only prints its address.

MLflow's server starts 4 workers by default, each loading MLflow, plus a runner of
GenAI jobs that loads it once more: on a small machine that is half a minute before
the first page. One user browsing runs needs one worker and no job runner. The
address is printed once the server answers, so that what it points at is there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dvflow import env
from dvflow.errors import DvflowError, one_line
from dvflow.tracking.store import display_uri, ensure_store, sqlite_path
from dvflow.workspace import Workspace

DEFAULT_PORT = 5000
HOST = "127.0.0.1"
WORKERS = 1
HEALTH_PATH = "/health"  # MLflow's server answers it once it serves requests
_POLL_SECONDS = 0.2
# MLflow's own switch for its job runner (GenAI scorers, prompt optimisation); a value
# the user set wins.
_SERVER_DEFAULTS = {env.MLFLOW_SERVER_ENABLE_JOB_EXECUTION: "false"}
_TAIL_LINES = 20


@dataclass(frozen=True)
class UiPlan:
    """What ``dvflow ui`` will do: serve a local store, or point at a server.

    Attributes:
        tracking_uri: the store, credentials stripped.
        url: where the UI answers.
        command: the ``mlflow ui`` command; None for a tracking server.
        environment: variables set for the server on top of the current ones.
    """

    tracking_uri: str
    url: str
    command: list[str] | None
    environment: dict[str, str] = field(default_factory=dict)


def plan_ui(
    port: int = DEFAULT_PORT, start: Path | None = None, *, check_port: bool = False
) -> UiPlan:
    """Resolve the store and build the ``mlflow ui`` command for it (None for a server).

    ``check_port``: fail (``UiError``) if the port is taken, before a store is created.
    """
    target = Workspace.find(start).target
    uri = target.tracking_uri
    if uri.startswith(("http://", "https://")):
        return UiPlan(display_uri(uri), display_uri(uri), None)
    if check_port:
        check_port_free(port)
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
        "--workers",
        str(WORKERS),
        # A line per request in the terminal is noise for one user; errors still show.
        "--uvicorn-opts",
        "--no-access-log",
    ]
    db = sqlite_path(uri)
    if db is not None and target.artifacts is not None:
        command += ["--default-artifact-root", target.artifacts.as_uri()]
    defaults = {k: v for k, v in _SERVER_DEFAULTS.items() if k not in os.environ}
    return UiPlan(display_uri(uri), f"http://{HOST}:{port}", command, defaults)


def shown_command(plan: UiPlan) -> list[str] | None:
    """The command as it may be printed: credentials stripped."""
    return [display_uri(part) for part in plan.command] if plan.command else None


class UiError(DvflowError):
    """MLflow's UI did not start, or stopped with an error."""


def check_port_free(port: int) -> None:
    """Fail now, with advice, if something already listens on ``port``: otherwise the
    address printed would show that other program."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            raise UiError(
                f"port {port} on {HOST} is in use: stop what uses it, or choose another "
                f"port, e.g. 'dvflow ui --port {port + 1}'."
            ) from None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _collect(stream: IO[str], tail: deque[str], ready: threading.Event) -> None:
    """Keep the server's last lines (for an error message); once it is ready, pass
    them on to our stderr as MLflow's own ``mlflow ui`` would print them."""
    for line in stream:
        tail.append(line)
        if ready.is_set():
            sys.stderr.write(line)
            sys.stderr.flush()


def serve(
    plan: UiPlan,
    on_ready: Callable[[], None] | None = None,
    timeout: float = 180.0,
) -> int:
    """Run MLflow's UI until Ctrl-C or SIGTERM; return its exit code.

    ``on_ready`` is called once the server answers. The server runs in a process group
    of its own, so that stopping dvflow stops it and anything it started.

    Raises:
        UiError: the port is taken, or the server exited (or did not answer within
            ``timeout`` seconds) before it answered; the message has its last line.
    """
    if plan.command is None:
        return 0
    check_port_free(int(plan.url.rsplit(":", 1)[1]))

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    server = subprocess.Popen(
        plan.command,
        env={**os.environ, **plan.environment},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    ready = threading.Event()
    assert server.stderr is not None
    reader = threading.Thread(target=_collect, args=(server.stderr, tail, ready), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not _answers(plan.url):
            if server.poll() is not None:
                reader.join(timeout=5)  # its last words
                raise UiError(
                    f"MLflow's UI exited with code {server.returncode} before it answered: "
                    f"{one_line(''.join(tail), last=True) or 'no output'}"
                )
            if time.monotonic() > deadline:
                raise UiError(
                    f"MLflow's UI did not answer on {plan.url} within {timeout:.0f} s: "
                    f"{one_line(''.join(tail), last=True) or 'no output'}"
                )
            time.sleep(_POLL_SECONDS)
        ready.set()
        if on_ready is not None:
            on_ready()
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

"""`dvflow ui` serves MLflow's UI on the store dvflow writes to."""

import json
import select
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dvflow.apps.ui import UiError, UiPlan, serve
from tests.conftest import TmpDir, dvflow, dvflow_exe, python_env, run

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def _session_processes(leader: int) -> list[str]:
    """The command lines of the processes in the session ``leader`` started."""
    out = run(["ps", "-e", "-o", "sid=,args="], Path.cwd()).stdout
    return [
        args
        for sid, _, args in (line.strip().partition(" ") for line in out.splitlines())
        if sid == str(leader)
    ]


def _pipeline_with_runs(dvc: TmpDir) -> None:
    dvc.gen(
        {
            "params.yaml": "a: 1\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: echo hi > o.txt\n"
            "    params: [a]\n    outs: [o.txt]\n",
        }
    )
    dvc.commit("pipeline")
    dvflow(dvc, "repro")


@pytest.mark.slow
def test_ui_serves_the_project_store(dvc: TmpDir, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default store: <project>/mlflow.db, as a fresh machine has it.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", raising=False)
    _pipeline_with_runs(dvc)
    assert (dvc.path / "mlflow.db").is_file()
    port = _free_port()
    planned = json.loads(dvflow(dvc, "ui", "--port", str(port), "--json").stdout)
    assert planned["url"] == f"http://127.0.0.1:{port}"
    assert planned["tracking_uri"] == f"sqlite:///{dvc.path / 'mlflow.db'}"
    assert planned["command"][planned["command"].index("--workers") + 1] == "1"
    started = time.monotonic()
    ui = subprocess.Popen(
        [dvflow_exe(), "ui", "--port", str(port)],
        cwd=dvc.path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert ui.stdout is not None
        readable, _, _ = select.select([ui.stdout], [], [], 120)
        assert readable, "dvflow ui printed no address within 120 s"
        line = ui.stdout.readline()
        assert line == f"dvflow: open http://127.0.0.1:{port} (Ctrl-C to stop)\n", line
        # Printed once the server answers: the address works at once, no retry.
        assert _get(f"http://127.0.0.1:{port}/health")
        print(f"dvflow ui answered after {time.monotonic() - started:.1f} s")
        body = _get(
            f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
        )
        names = {e["name"] for e in json.loads(body)["experiments"]}
        assert "project" in names
        # One server process with one worker: not 4 workers and a job runner, each
        # loading MLflow (half a minute on 2 cores before the first answer).
        (server,) = [
            int(pid)
            for pid in run(["ps", "-o", "pid=", "--ppid", str(ui.pid)], dvc.path).stdout.split()
        ]
        processes = _session_processes(server)
        assert len(processes) <= 2, processes
        assert not any("_job_runner" in args for args in processes)
    finally:
        ui.terminate()
        ui.wait(timeout=30)
    # Stopping dvflow stopped MLflow's server and its workers too.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            _get(f"http://127.0.0.1:{port}/health")
        except OSError:
            break
        time.sleep(0.5)
    else:
        pytest.fail("MLflow's UI still answers after dvflow ui was stopped")


def test_ui_refuses_a_port_in_use(dvc: TmpDir) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run([dvflow_exe(), "ui", "--port", str(port)], dvc.path, check=False)
    assert result.returncode == 1
    assert result.stdout == ""  # no address printed for a server that is not ours
    error = result.stderr.splitlines()[-1]
    assert f"port {port} on 127.0.0.1 is in use" in error and f"--port {port + 1}" in error


def test_a_server_that_dies_before_answering_is_an_error(tmp_path: Path) -> None:
    port = _free_port()
    dies = [
        sys.executable,
        "-c",
        "import sys; print('starting', file=sys.stderr); "
        "sys.exit('Error: the backend store is locked')",
    ]
    ready: list[bool] = []
    started = time.monotonic()
    with pytest.raises(UiError, match="exited with code 1 before it answered: Error: the backend"):
        serve(
            UiPlan("sqlite:///x.db", f"http://127.0.0.1:{port}", dies), lambda: ready.append(True)
        )
    assert ready == [] and time.monotonic() - started < 30  # polling stopped at its death


def test_ui_outside_a_project_is_one_line(tmp_path: Path) -> None:
    result = run([dvflow_exe(), "ui"], tmp_path, check=False)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr

"""`dvflow ui` serves MLflow's UI on the store dvflow writes to."""

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TmpDir, dvflow, dvflow_exe, python_env, run

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


@pytest.mark.slow
def test_ui_serves_the_project_store(dvc: TmpDir, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default store: <project>/mlflow.db, as a fresh machine has it.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    dvc.gen(
        {
            "params.yaml": "a: 1\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: echo hi > o.txt\n"
            "    params: [a]\n    outs: [o.txt]\n",
        }
    )
    dvc.commit("pipeline")
    dvflow(dvc, "repro")
    assert (dvc.path / "mlflow.db").is_file()
    port = _free_port()
    planned = json.loads(dvflow(dvc, "ui", "--port", str(port), "--json").stdout)
    assert planned["url"] == f"http://127.0.0.1:{port}"
    assert planned["tracking_uri"] == f"sqlite:///{dvc.path / 'mlflow.db'}"
    server = subprocess.Popen(
        [dvflow_exe(), "ui", "--port", str(port)],
        cwd=dvc.path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "MLflow's UI did not start"
                time.sleep(0.5)
        body = _get(
            f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
        )
        names = {e["name"] for e in json.loads(body)["experiments"]}
        assert "project" in names
    finally:
        server.terminate()
        server.wait(timeout=30)
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


def test_ui_outside_a_project_is_one_line(tmp_path: Path) -> None:
    result = run([dvflow_exe(), "ui"], tmp_path, check=False)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr

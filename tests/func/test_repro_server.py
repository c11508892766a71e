"""`dvflow repro` against a real MLflow tracking server on 127.0.0.1."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    folder = tmp_path / "server"
    folder.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", (folder / "artifacts").as_uri(), "--workers", "1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the MLflow server did not start"
                time.sleep(0.5)
        yield url
    finally:
        import os

        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_repro_records_on_a_tracking_server(
    dvc: TmpDir, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    dvc.gen(
        {
            "params.yaml": "train:\n  lr: 0.1\n",
            # The script logs through MLflow: over HTTP, MLflow prints run URLs.
            "train.py": "import mlflow\nwith mlflow.start_run():\n"
            "    mlflow.log_metric('loss', 0.5)\nopen('model.txt', 'w').write('m')\n",
            "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
            "    params: [train.lr]\n    outs: [model.txt]\n",
        }
    )
    dvc.commit("pipeline")
    result = dvflow(dvc, "repro")
    assert f"open:    {server}" in result.stdout
    client: Any = MlflowClient(server)
    runs = all_runs(client)
    assert len(runs) == 2
    assert all(r.info.status == "FINISHED" for r in runs)
    (train,) = [r for r in runs if r.data.tags.get(tags.KIND) == tags.KIND_STAGE]
    assert train.data.metrics == {"loss": 0.5}
    assert train.data.params == {"train.lr": "0.1"}
    assert not (dvc.path / "mlflow.db").exists()

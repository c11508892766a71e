"""Offline, `dvflow repro` says so in one warning line: the records are spooled, and
`dvflow sync` uploads them. Nothing else of the spool's making reaches stderr (MLflow's
"Creating initial MLflow database tables" of the spool's own store is not news)."""

import socket

import pytest

from tests.conftest import TmpDir, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes

# The stage script logs with MLflow itself: offline, its run goes to the spool's store.
SCRIPT = """\
import json, mlflow
with mlflow.start_run():
    mlflow.log_metric("own", 1.5)
json.dump({"acc": 0.9}, open("m.json", "w"))
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_store_is_one_warning_line(
    dvc: TmpDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    dvc.gen(
        {
            "train.py": SCRIPT,
            "dvc.yaml": (
                "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
                "    metrics: [m.json: {cache: false}]\n"
            ),
        }
    )
    dvc.commit("pipeline")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    result = dvflow(dvc, "repro")
    assert (dvc.path / "m.json").exists()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("dvflow:")]
    [warning] = warnings
    assert warning.startswith("dvflow: warning: the tracking store http://127.0.0.1:")
    assert "its records wait in the spool" in warning and "run 'dvflow sync'" in warning
    assert "mlflow" not in result.stderr.replace(warning, ""), result.stderr
    # The summary on stdout still says the pipeline is not recorded yet.
    assert "not recorded in the store yet" in result.stdout

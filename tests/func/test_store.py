"""The tracking store: created once under concurrency, limits honoured, errors clear."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dvflow.errors import TrackingStoreError
from dvflow.tracking import schema as tags
from dvflow.tracking.store import ensure_store
from dvflow.tracking.writer import log_tags_and_params

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

OPEN_STORE = """\
import sys
from dvflow.tracking.store import open_client, ensure_experiment
client = open_client(sys.argv[1])
experiment = ensure_experiment(client, "shared", None)
run = client.create_run(experiment)
client.log_param(run.info.run_id, "worker", sys.argv[2])
"""


def test_concurrent_processes_create_a_fresh_store_once(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    script = tmp_path / "open.py"
    script.write_text(OPEN_STORE)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), uri, str(i)],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    errors = [w.communicate()[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], "\n".join(errors)
    client = MlflowClient(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "shared"]
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["worker"] for r in runs) == ["0", "1", "2", "3"]


def test_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(TrackingStoreError, match=r"127\.0\.0\.1:9.*no answer"):
        ensure_store("http://127.0.0.1:9")


def test_limits_batches_and_overflow(client: Any, tmp_path: Path) -> None:
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    # An artifact location inside tmp_path: MLflow's default is ./mlruns of the current
    # folder, which once leaked into this repository.
    experiment = client.create_experiment("limits", artifact_location=tmp_path.as_uri())
    run_id = client.create_run(experiment).info.run_id
    params: dict[str, Any] = {f"p{i}": i for i in range(250)}
    params["long"] = "x" * (MAX_PARAM_VAL_LENGTH + 1)
    params["bad key!"] = 1
    overflow = log_tags_and_params(client, run_id, {"t": "v"}, params)
    stored = client.get_run(run_id).data
    assert len([k for k in stored.params if k.startswith("p")]) == 250
    assert set(overflow) == {"long", "bad key!"}
    assert stored.tags[tags.LONG_PARAMS] == "dvflow/params_overflow/"
    (kept,) = client.list_artifacts(run_id, "dvflow/params_overflow")
    local = client.download_artifacts(run_id, kept.path)
    assert json.loads(Path(local).read_text())["long"] == params["long"]
    # Same value again: skipped. Another value: kept aside, with a warning.
    with pytest.warns(UserWarning, match="cannot change"):
        again = log_tags_and_params(client, run_id, {}, {"p1": 1, "p2": 99})
    assert again == {"p2": "99"}
    assert client.get_run(run_id).data.params["p2"] == "2"
    assert len(client.list_artifacts(run_id, "dvflow/params_overflow")) == 2

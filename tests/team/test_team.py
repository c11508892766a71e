"""dvflow against a team's stack: a shared MLflow server (PostgreSQL, artifacts in S3,
basic authentication) and a DVC remote in the same S3. Two clones act as two teammates."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dvflow.registry import schema
from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, dvflow, run
from tests.stack import BUCKET, USER_PASSWORD, Stack

pytestmark = [pytest.mark.team, pytest.mark.slow]


def _pipeline_run(client: Any, experiment: str) -> Any:
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs(
        [found.experiment_id], f"tags.`{tags.KIND}` = 'pipeline'", order_by=["start_time DESC"]
    )
    return runs[0]


def test_two_teammates_share_runs_code_data_and_models(
    alice: TmpDir, teammate: Stack, tmp_path: Path
) -> None:
    experiment = os.environ["MLFLOW_EXPERIMENT_NAME"]
    dvflow(alice, "repro")
    dvflow(alice, "commit", "-m", "train", "--push")
    client = teammate.client()
    run_a = _pipeline_run(client, experiment)
    run_id = run_a.info.run_id
    # The artifacts are in S3 (proxied by the server), the data in the DVC remote.
    assert any(run_id in key for key in teammate.s3_keys("mlflow/"))
    digest = run_a.data.tags[f"{tags.DVC_OUT_PREFIX}models/model.pkl"]
    remote_prefix = alice.dvc("remote", "list").stdout.split()[1].split(f"{BUCKET}/")[1]
    assert teammate.s3_keys(f"{remote_prefix}/files/md5/{digest[:2]}/")

    # B clones, restores A's run: code from git, data from S3 (B's cache is empty).
    bob = TmpDir(tmp_path / "bob")
    run(["git", "clone", "-q", str(tmp_path / "origin.git"), str(bob.path)], tmp_path)
    restored = json.loads(
        dvflow(bob, "checkout", run_id, "--worktree", str(tmp_path / "bob-run"), "--json").stdout
    )
    assert all(check["state"] == "restored" for check in restored["data"])
    assert (tmp_path / "bob-run" / "models/model.pkl").read_bytes() == (
        alice.path / "models/model.pkl"
    ).read_bytes()

    # B's reproduction of A's run succeeds and is visible to A through the server.
    dvflow(bob, "reproduce", run_id)
    again = client.search_runs([run_a.info.experiment_id], f"tags.`{tags.REPRODUCES}` = '{run_id}'")
    assert [r.data.tags[tags.REPRODUCED] for r in again] == ["true"]
    # B tries a smaller C from A's restored state; `dvflow diff` of A's and B's runs,
    # both read from the server, shows what B changed and what it did.
    bob_run = TmpDir(tmp_path / "bob-run")
    bob_run.gen({"params.yaml": "train:\n  c: 0.001\n"})
    run_b = json.loads(dvflow(bob_run, "repro", "--json").stdout)["parent_run_id"]
    difference = json.loads(dvflow(bob, "diff", run_id, run_b, "--json").stdout)
    assert (difference["a"]["run_id"], difference["b"]["run_id"]) == (run_id, run_b)
    assert difference["params"] == {"train.c": {"old": "1.0", "new": "0.001", "diff": "modified"}}
    model = difference["data"]["models/model.pkl"]
    assert (model["diff"], model["old"]) == ("modified", digest)
    # B's run was made on top of A's commit, with the change not committed yet.
    assert difference["code"]["params.yaml"]["diff"] == "uncommitted"

    # A publishes the model: an MLflow model (bytes in S3 through the server) ...
    done = json.loads(
        dvflow(alice, "register", "models/model.pkl", "--name", experiment, "--json").stdout
    )
    import mlflow.pyfunc

    mlflow.set_tracking_uri(teammate.tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{experiment}/{done['version']}")
    assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]
    # ... and a reference to the DVC remote's object: no second copy.
    ref = json.loads(
        dvflow(
            alice,
            "register",
            "models/model.pkl",
            "--name",
            experiment,
            "--reference",
            "--alias",
            "champion",
            "--json",
        ).stdout
    )
    assert ref["source"] == f"s3://{BUCKET}/{remote_prefix}/files/md5/{digest[:2]}/{digest[2:]}"
    version = client.get_model_version_by_alias(experiment, "champion")
    assert version.tags[schema.MODEL_REMOTE] == f"s3://{BUCKET}/{remote_prefix}"
    # B fetches it through DVC, from S3, verified.
    bob.git("pull", "-q")
    fetched = json.loads(
        dvflow(bob, "registry", "fetch", f"models:/{experiment}@champion", "--json").stdout
    )
    assert (Path(fetched["folder"]) / "model.pkl").read_bytes() == (
        alice.path / "models/model.pkl"
    ).read_bytes()


def test_without_credentials_the_server_refusal_is_said_and_none_leak(
    alice: TmpDir, teammate: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = os.environ["MLFLOW_EXPERIMENT_NAME"]
    dvflow(alice, "repro")
    client = teammate.client()
    found = _pipeline_run(client, experiment)
    # The password is nowhere in what the run recorded: tags, params, snapshot files.
    recorded = json.dumps([found.data.tags, found.data.params])
    folder = client.download_artifacts(found.info.run_id, "dvflow", str(alice.path.parent))
    for path in Path(folder).rglob("*"):
        if path.is_file():
            recorded += path.read_text(errors="replace")
    assert USER_PASSWORD not in recorded
    assert (Path(folder) / "environment.json").is_file()

    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    refused = dvflow(alice, "runs", check=False)
    assert refused.returncode == 4, refused.stderr
    assert "Traceback" not in refused.stderr
    # Said by the store check (HTTP 401) or by MLflow's client (UNAUTHENTICATED).
    assert "the server refused the" in refused.stderr
    assert "MLFLOW_TRACKING_USERNAME" in refused.stderr

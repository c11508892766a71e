"""dvflow against a team's stack: a shared MLflow server (PostgreSQL, artifacts in S3,
basic authentication) and a DVC remote in the same S3. Two clones act as two teammates."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from dvflow.registry import schema
from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, dvflow, run
from tests.stack import BUCKET, USER_PASSWORD, Stack, _boto_credentials

pytestmark = [pytest.mark.team, pytest.mark.slow]

TRAIN = """\
import json, os, pickle, yaml
from sklearn.linear_model import LogisticRegression
c = yaml.safe_load(open("params.yaml"))["train"]["c"]
rows = [line.split(",") for line in open("data/raw.csv").read().split()[1:]]
x = [[float(a)] for a, _ in rows]
y = [int(b) for _, b in rows]
model = LogisticRegression(C=c).fit(x, y)
os.makedirs("models", exist_ok=True)
pickle.dump(model, open("models/model.pkl", "wb"))
json.dump({"accuracy": model.score(x, y)}, open("metrics.json", "w"))
"""

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, data/raw.csv]
    params: [train.c]
    outs: [models/model.pkl]
    metrics: [metrics.json: {cache: false}]
"""


def _client(stack: Stack) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(stack.tracking_uri)  # credentials from MLflow's variables


def _s3_keys(stack: Stack, prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint, **_boto_credentials())
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return [item["Key"] for item in found]


@pytest.fixture
def alice(scm: TmpDir, teammate: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TmpDir:
    """Teammate A's project: git to a bare repository, data to the S3 remote, runs to
    the server under an experiment of this test's own."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"team-{uuid.uuid4().hex[:8]}")
    run(["git", "init", "-q", "--bare", "-b", "main", str(tmp_path / "origin.git")], tmp_path)
    scm.git("remote", "add", "origin", str(tmp_path / "origin.git"))
    scm.dvc("init", "-q")
    prefix = f"dvc-{uuid.uuid4().hex[:8]}"
    scm.dvc("remote", "add", "-d", "store", teammate.dvc_remote(prefix))
    # The endpoint is no secret: it is committed; the keys come from AWS's variables.
    scm.dvc("remote", "modify", "store", "endpointurl", teammate.s3_endpoint)
    scm.gen(
        {
            "data/raw.csv": "x,y\n0,0\n1,0\n2,1\n3,1\n",
            "train.py": TRAIN,
            "params.yaml": "train:\n  c: 1.0\n",
            "dvc.yaml": PIPELINE,
        }
    )
    scm.dvc("add", "-q", "data/raw.csv")
    scm.commit("pipeline")
    return scm


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
    client = _client(teammate)
    run_a = _pipeline_run(client, experiment)
    run_id = run_a.info.run_id
    # The artifacts are in S3 (proxied by the server), the data in the DVC remote.
    assert any(run_id in key for key in _s3_keys(teammate, "mlflow/"))
    digest = run_a.data.tags[f"{tags.DVC_OUT_PREFIX}models/model.pkl"]
    remote_prefix = alice.dvc("remote", "list").stdout.split()[1].split(f"{BUCKET}/")[1]
    assert _s3_keys(teammate, f"{remote_prefix}/files/md5/{digest[:2]}/")

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
    # (`dvflow diff` of A's and B's runs: not on this branch yet.)

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
    client = _client(teammate)
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

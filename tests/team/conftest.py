"""The team suite's services: one stack for the session (PostgreSQL, S3, an MLflow server
with basic authentication), each test's teammates' environment pointing at it, and
teammate A's project (``alice``)."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TmpDir, run
from tests.stack import Stack, running_stack


@pytest.fixture(scope="session")
def team_stack() -> Iterator[Stack]:
    """PostgreSQL, moto's S3 and an authenticated MLflow server, on 127.0.0.1."""
    missing = [m for m in ("moto", "psycopg2", "s3fs") if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"the team suite needs pip install -e '.[team]' ({', '.join(missing)} missing)"
        # CI's team step sets it: there, a missing package is a failure, not a skip.
        if os.environ.get("DVFLOW_TEAM_REQUIRED"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_stack() as stack:
        yield stack


@pytest.fixture
def teammate(team_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """A teammate's environment: the server URL and their credentials in MLflow's own
    variables (a local, git-ignored settings file is issue 14's), S3 keys for DVC."""
    for name, value in team_stack.user_env().items():
        monkeypatch.setenv(name, value)
    return team_stack


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

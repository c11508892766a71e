"""`dvflow register` and `dvflow registry fetch` on a local store and local remotes: the
gate names what a teammate would miss, --force is tagged, the default logs an MLflow
model that pyfunc loads, --reference points at the DVC remote and fetch verifies it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dvflow.registry import schema
from tests.conftest import TmpDir, dvflow, run

pytestmark = pytest.mark.slow  # real git, dvc and mlflow processes

TRAIN = """\
import pickle, yaml
from sklearn.ensemble import RandomForestClassifier
c = yaml.safe_load(open("params.yaml"))["train"]["c"]
rows = [line.split(",") for line in open("data/raw.csv").read().split()[1:]]
x = [[float(a)] for a, _ in rows]
y = [int(b) for _, b in rows]
import os; os.makedirs("models", exist_ok=True)
model = RandomForestClassifier(n_estimators=3, max_depth=int(c * 2), random_state=0)
pickle.dump(model.fit(x, y), open("models/model.pkl", "wb"))
"""

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, data/raw.csv]
    params: [train.c]
    outs: [models/model.pkl]
artifacts:
  classifier:
    path: models/model.pkl
    type: model
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str, tmp_path: Path) -> TmpDir:
    """A trained, committed and pushed model (git to a bare repository, data to a local
    DVC remote)."""
    run(["git", "init", "-q", "--bare", "-b", "main", str(tmp_path / "origin.git")], tmp_path)
    dvc.git("remote", "add", "origin", str(tmp_path / "origin.git"))
    dvc.dvc("remote", "add", "-d", "storage", str(tmp_path / "dvc-remote"))
    dvc.gen(
        {
            "data/raw.csv": "x,y\n0,0\n1,0\n2,1\n3,1\n",
            "train.py": TRAIN,
            "params.yaml": "train:\n  c: 1.0\n",
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.dvc("add", "-q", "data/raw.csv")
    dvc.commit("pipeline")
    dvflow(dvc, "repro")
    dvflow(dvc, "commit", "-m", "train", "--push")
    return dvc


def _register(tmp: TmpDir, *args: str, check: bool = True) -> Any:
    result = dvflow(tmp, "register", *args, "--json", check=check)
    return json.loads(result.stdout) if result.returncode == 0 else result


def test_registers_an_mlflow_model_that_pyfunc_loads(project: TmpDir, client: Any) -> None:
    done = _register(project, "models/model.pkl", "--name", "clf", "--alias", "champion")
    assert done["uri"] == "models:/clf/1"
    assert done["source"].startswith("models:/m-")
    version = client.get_model_version("clf", "1")
    assert version.tags[schema.MODEL_PATH] == "models/model.pkl"
    assert version.tags[schema.MODEL_HASH] == done["model"]["hash"]
    assert version.tags[schema.MODEL_COMMIT] == project.git("rev-parse", "HEAD")
    assert version.tags[schema.MODEL_REFERENCE] == "false"
    assert schema.FORCED not in version.tags
    assert version.run_id == done["run_id"]
    assert str(client.get_model_version_by_alias("clf", "champion").version) == "1"
    import mlflow.pyfunc

    mlflow.set_tracking_uri(client._tracking_client.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/clf@champion")
    import pandas as pd

    assert list(model.predict(pd.DataFrame({"x0": [0.0, 3.0]}).values)) == [0, 1]


def test_reference_points_at_the_dvc_remote_and_fetch_verifies(
    project: TmpDir, client: Any, tmp_path: Path
) -> None:
    # A dvc.yaml artifact name works like its path.
    done = _register(project, "classifier", "--name", "clf", "--reference")
    digest = done["model"]["hash"]
    remote = (tmp_path / "dvc-remote").as_posix()
    assert done["source"] == f"{remote}/files/md5/{digest[:2]}/{digest[2:]}"
    version = client.get_model_version("clf", done["version"])
    assert version.source == done["source"]
    assert version.tags[schema.MODEL_REFERENCE] == "true"
    assert version.tags[schema.MODEL_REMOTE] == remote
    # No copy of the bytes in MLflow: no logged model was made.
    experiment = client.get_run(done["run_id"]).info.experiment_id
    assert client.search_logged_models([experiment]) == []

    # Another clone, with an empty cache: the bytes come from the DVC remote.
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tmp_path / "origin.git"), str(clone)], tmp_path)
    fetched = json.loads(
        dvflow(TmpDir(clone), "registry", "fetch", "models:/clf/1", "--json").stdout
    )
    written = Path(fetched["folder"]) / "model.pkl"
    assert written.read_bytes() == (project.path / "models/model.pkl").read_bytes()
    # An occupied folder is never overwritten.
    again = dvflow(TmpDir(clone), "registry", "fetch", "models:/clf/1", check=False)
    assert again.returncode == 9
    assert "not empty" in again.stderr


def test_fetch_refuses_a_corrupt_object(project: TmpDir, tmp_path: Path) -> None:
    done = _register(project, "models/model.pkl", "--name", "clf", "--reference")
    digest = done["model"]["hash"]
    stored = tmp_path / "dvc-remote" / "files" / "md5" / digest[:2] / digest[2:]
    stored.chmod(0o644)
    stored.write_bytes(b"not the model")
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tmp_path / "origin.git"), str(clone)], tmp_path)
    result = dvflow(TmpDir(clone), "registry", "fetch", "models:/clf/1", check=False)
    assert result.returncode == 8, result.stderr
    assert "Traceback" not in result.stderr


def test_the_gate_names_each_gap_and_force_is_tagged(
    project: TmpDir, client: Any, tmp_path: Path
) -> None:
    # A new model from a dirty tree, neither committed nor pushed.
    project.gen({"params.yaml": "train:\n  c: 0.5\n"})
    dvflow(project, "repro")
    refused = _register(project, "models/model.pkl", "--name", "clf", check=False)
    assert refused.returncode == 10
    message = refused.stderr
    assert "changes that no commit records" in message
    assert "dvflow commit -m MESSAGE --push" in message
    assert "lacks models/model.pkl" in message and "dvc push" in message
    assert "Traceback" not in message
    assert client.search_registered_models() == []

    # Committed, not pushed: the commit and the data are named.
    dvflow(project, "commit", "-m", "c=0.5")
    refused = _register(project, "models/model.pkl", "--name", "clf", check=False)
    assert refused.returncode == 10
    assert "is on no git remote (fix: git push)" in refused.stderr
    assert "lacks models/model.pkl" in refused.stderr

    forced = _register(project, "models/model.pkl", "--name", "clf", "--force")
    version = client.get_model_version("clf", forced["version"])
    assert version.tags[schema.FORCED] == "data-not-in-remote,unpushed"

    # Pushed: nothing to refuse.
    dvflow(project, "commit", "-m", "nothing", "--push", check=False)
    project.dvc("push", "-q")
    project.git("push", "-q")
    done = _register(project, "models/model.pkl", "--name", "clf")
    assert schema.FORCED not in client.get_model_version("clf", done["version"]).tags


def test_a_path_dvc_does_not_track_is_refused(project: TmpDir) -> None:
    result = _register(project, "train.py", "--name", "clf", check=False)
    assert result.returncode == 5
    assert "not an output DVC keeps in its cache" in result.stderr

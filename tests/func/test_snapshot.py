"""The data, params and environment parts of a snapshot, read through DVC."""

import json
import warnings

import pytest

from dvflow.errors import DvflowWarning
from dvflow.project import find_project
from dvflow.snapshot import take_snapshot
from tests.conftest import TmpDir

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

PIPELINE = """\
stages:
  prepare:
    cmd: mkdir -p data/prepared && cp data/raw/a.csv data/prepared/a.csv && echo b > data/prepared/b
    deps: [data/raw]
    params: [prepare.split, {model.yaml: [model.depth]}]
    outs: [data/prepared]
  train:
    cmd: cat data/prepared/a.csv > model.bin
    deps: [data/prepared]
    params: [{model.yaml: }]
    outs: [model.bin]
"""


@pytest.fixture
def pipeline(dvc: TmpDir) -> TmpDir:
    dvc.gen(
        {
            "data/raw/a.csv": "x,y\n1,2\n",
            "data/raw/b.csv": "x,y\n3,4\n",
            "params.yaml": "prepare:\n  split: 0.2\n  seed: 7\n",
            "model.yaml": "model:\n  depth: 3\n  kind: tree\n",
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.dvc("add", "-q", "data/raw")
    dvc.dvc("repro", "-q")
    dvc.commit("pipeline")
    return dvc


def test_data_versions_come_from_the_lock_and_dvc_files(pipeline: TmpDir) -> None:
    snap = take_snapshot(find_project())
    by_path = {(v.path, v.role): v for v in snap.data}
    raw = by_path[("data/raw", "out")]
    assert raw.stage == "data/raw.dvc"
    assert raw.hash is not None and raw.hash.endswith(".dir")
    assert raw.nfiles == 2
    lock = (pipeline.path / "dvc.lock").read_text()
    prepared = by_path[("data/prepared", "out")]
    assert prepared.hash is not None and prepared.hash in lock
    assert prepared.stage == "prepare"
    assert by_path[("model.bin", "out")].hash in lock


def test_data_is_never_rehashed(pipeline: TmpDir) -> None:
    recorded = {v.path: v.hash for v in take_snapshot(find_project()).data}
    (pipeline.path / "model.bin").write_text("changed after the run\n")
    assert {v.path: v.hash for v in take_snapshot(find_project()).data} == recorded


def test_stage_snapshot_has_its_params_from_several_files(pipeline: TmpDir) -> None:
    snap = take_snapshot(find_project(), stage="prepare")
    assert snap.params == {"prepare.split": 0.2, "model.depth": 3}
    assert {(v.path, v.role) for v in snap.data} == {
        ("data/raw", "dep"),
        ("data/prepared", "out"),
    }
    whole = take_snapshot(find_project(), stage="train")
    assert whole.params == {"model.depth": 3, "model.kind": "tree"}


def test_pipeline_snapshot_reads_every_params_file(pipeline: TmpDir) -> None:
    snap = take_snapshot(find_project())
    assert snap.params == {
        "prepare.split": 0.2,
        "prepare.seed": 7,
        "model.depth": 3,
        "model.kind": "tree",
    }
    assert {"dvc.yaml", "dvc.lock", "params.yaml", "model.yaml", "data/raw.dvc"} <= set(snap.files)


def test_conflicting_params_warn(pipeline: TmpDir) -> None:
    pipeline.gen({"params.yaml": "prepare:\n  split: 0.2\n  seed: 7\nmodel:\n  depth: 9\n"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        take_snapshot(find_project())
    assert any(issubclass(w.category, DvflowWarning) for w in caught)


def test_environment_lists_tools_and_leaves_secrets_out(
    pipeline: TmpDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-planted-1234")
    monkeypatch.setenv("DVC_REMOTE_SECRET_KEY", "key-planted-5678")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://minio:pw-planted-999@localhost:9000")
    pipeline.gen({"requirements.txt": "scikit-learn==1.5\n"})
    snap = take_snapshot(find_project())
    environment = snap.environment
    assert environment.version_of("dvc") and environment.version_of("mlflow")
    assert environment.requirements == "scikit-learn==1.5\n"
    text = json.dumps(snap.to_dict())
    for secret in ("tok-planted-1234", "key-planted-5678", "pw-planted-999"):
        assert secret not in text
    assert environment.variables["MLFLOW_S3_ENDPOINT_URL"] == "http://localhost:9000"

"""dvflow's MLflow plug-ins, found by MLflow through the installed entry points.

Everything goes through MLflow's public functions: a plain ``mlflow.start_run()`` in a
DVC stage (run by plain ``dvc``), ``mlflow.data.get_source(...).load()``.

These tests need dvflow installed with its entry points (``pip install -e .``, see
docs/cli.md "MLflow plug-ins").
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from dvflow import env
from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, python_env, run

pytestmark = pytest.mark.slow  # real dvc and mlflow processes

# A stage script that knows nothing of dvflow.
TRAIN = """\
import mlflow
with mlflow.start_run():
    mlflow.log_metric("loss", 0.5)
open("model.txt", "w").write("model\\n")
"""


def _registered(group: str) -> set[str]:
    return {ep.value for ep in entry_points(group=group)}


@pytest.fixture(autouse=True)
def installed_plugins() -> None:
    wanted = {
        "mlflow.run_context_provider": "dvflow.plugins.context:DvflowRunContext",
        "mlflow.dataset_source": "dvflow.plugins.source:DvcDatasetSource",
    }
    for group, value in wanted.items():
        if value not in _registered(group):
            pytest.fail(
                f"{value} is not registered in {group}: dvflow's installed metadata is "
                "older than pyproject.toml; run 'pip install --no-deps -e .'"
            )


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    dvc.gen(
        {
            "train.py": TRAIN,
            "params.yaml": "train:\n  lr: 0.1\n",
            "dvc.yaml": (
                "stages:\n  train:\n    cmd: python train.py\n"
                "    deps: [train.py]\n    params: [train.lr]\n    outs: [model.txt]\n"
            ),
        }
    )
    dvc.commit("pipeline")
    return dvc


def _script_runs(client: Any) -> list[Any]:
    return sorted(all_runs(client), key=lambda r: r.info.start_time)


def test_plain_mlflow_run_in_a_dvc_stage_gets_dvflow_tags(project: TmpDir, client: Any) -> None:
    head, tree = project.git("rev-parse", "HEAD"), project.git("rev-parse", "HEAD^{tree}")
    run(["dvc", "repro"], project.path, env=python_env())
    run(["dvc", "exp", "run", "-S", "train.lr=0.2", "-n", "bigger"], project.path, env=python_env())
    repro, exp = _script_runs(client)
    for found in (repro, exp):
        assert found.data.tags[tags.DVC_STAGE] == "train"
        assert found.data.tags[tags.GIT_COMMIT] == head
        assert found.data.metrics == {"loss": 0.5}
    # Made from the clean commit: dvc.lock written by DVC meanwhile does not count.
    assert repro.data.tags[tags.GIT_DIRTY] == "false"
    assert repro.data.tags[tags.FINGERPRINT] == tree
    assert tags.DVC_EXP_NAME not in repro.data.tags
    assert exp.data.tags[tags.DVC_EXP_NAME] == "bigger"
    assert exp.data.tags[tags.DVC_EXP_BASELINE] == head
    # -S changed params.yaml: the experiment's code state is not the commit's.
    assert exp.data.tags[tags.GIT_DIRTY] == "true"
    # No dvflow.kind: dvflow.start_run() still records its snapshot into such a run.
    assert tags.KIND not in exp.data.tags


def _start_plain_run(cwd: Path, **extra: str) -> dict[str, str]:
    script = (
        "import mlflow, json\n"
        "with mlflow.start_run() as r:\n    pass\n"
        "print(json.dumps(mlflow.MlflowClient().get_run(r.info.run_id).data.tags))\n"
    )
    out = run(["python", "-c", script], cwd, env=python_env(**extra))
    found: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def test_no_tags_outside_a_project_or_when_switched_off(
    project: TmpDir, tracking_uri: str, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert tags.FINGERPRINT not in _start_plain_run(outside)
    assert tags.FINGERPRINT in _start_plain_run(project.path)
    off = _start_plain_run(project.path, **{env.DVFLOW_RUN_CONTEXT: env.RUN_CONTEXT_OFF})
    assert tags.FINGERPRINT not in off


def test_dvc_mode_adds_the_stage_data_versions(project: TmpDir, client: Any) -> None:
    pipeline = (project.path / "dvc.yaml").read_text().replace("deps: [", "deps: [data.csv, ")
    project.gen({"dvc.yaml": pipeline, "data.csv": "x\n1\n"})
    project.dvc("add", "-q", "data.csv")
    project.commit("data")
    run(["dvc", "repro"], project.path, env=python_env(**{env.DVFLOW_RUN_CONTEXT: "dvc"}))
    (found,) = _script_runs(client)
    lock = (project.path / "dvc.lock").read_text()
    assert found.data.tags["dvc.dep.data.csv"] in lock
    assert found.data.tags[tags.GIT_DIRTY] == "false"


def _dataset_inputs(client: Any) -> list[Any]:
    (found,) = all_runs(client)
    return list(found.inputs.dataset_inputs)


def test_dvc_dataset_source_loads_exactly_the_logged_version(
    project: TmpDir, client: Any, tmp_path: Path
) -> None:
    import mlflow.data

    remote = tmp_path / "remote"
    project.dvc("remote", "add", "-d", "store", str(remote))
    project.gen({"data/raw.csv": "a,b\n1,2\n"})
    project.dvc("add", "-q", "data/raw.csv")
    project.commit("data v1")
    project.dvc("push", "-q")
    script = "import dvflow\nwith dvflow.start_run():\n    pass\n"
    run(["python", "-c", script], project.path, env=python_env())
    (dataset_input,) = _dataset_inputs(client)
    source = mlflow.data.get_source(dataset_input)
    assert source.to_dict()["path"] == "data/raw.csv"
    assert source.to_dict()["rev"] == project.git("rev-parse", "HEAD")
    # A newer version in the workspace: load() still gives the logged one, from the cache.
    project.gen({"data/raw.csv": "a,b\n9,9\n"})
    project.dvc("add", "-q", "data/raw.csv")
    assert Path(source.load(str(tmp_path / "a"))).read_text() == "a,b\n1,2\n"
    # And from the remote when the cache does not have it.
    shutil.rmtree(project.path / ".dvc" / "cache")
    assert Path(source.load(str(tmp_path / "b"))).read_text() == "a,b\n1,2\n"


def test_dvc_dataset_source_refuses_a_version_nobody_recorded(
    project: TmpDir, client: Any, tmp_path: Path
) -> None:
    import mlflow.data

    from dvflow.errors import DvflowError

    source = mlflow.data.get_dataset_source_from_json(
        json.dumps({"path": "model.txt", "hash": "0" * 32}), "dvc"
    )
    with pytest.raises(DvflowError, match="DVC hash 0000"):
        source.load(str(tmp_path / "x"))

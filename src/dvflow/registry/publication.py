"""``dvflow register``: a DVC-tracked model as a new version of an MLflow registered model.

By default the model is logged in MLflow's own format (the scikit-learn flavour for a
pickled estimator, as is for a folder that already holds an ``MLmodel``) as a logged
model of the run that produced it, then registered from it: ``mlflow.pyfunc.load_model
("models:/NAME/1")`` works. With ``reference=True`` no second copy is stored: the version's
``source`` is the object's URL in the DVC remote (MLflow accepts any non-local URI as a
version's source), and ``dvflow registry fetch`` gets it back through DVC.

Every version carries the tags of ``registry.schema``: DVC hash, path, commit, DVC
remote (credentials stripped), and whether the gate was forced.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import DvflowError, ProjectInputError
from dvflow.project import working_directory
from dvflow.registry import schema
from dvflow.registry.gate import Gap, UnpublishableError, lineage_gaps, recording_commit
from dvflow.registry.source import ModelSource, NoRemoteError, locate_model
from dvflow.restore.lookup import filter_literal, find_run, open_experiment
from dvflow.tracking import schema as tags

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from dvflow.workspace import Workspace

MLMODEL = "MLmodel"


@dataclass(frozen=True)
class Registration:
    """A registered model version and what it was made from."""

    name: str
    version: str
    run_id: str
    source: str
    model: ModelSource
    commit: str | None
    reference: bool
    alias: str | None
    forced: list[Gap] = field(default_factory=list)

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``."""
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "run_id": self.run_id,
            "source": self.source,
            "model": self.model.to_dict(),
            "commit": self.commit,
            "reference": self.reference,
            "alias": self.alias,
            "forced": [gap.name for gap in self.forced],
        }


class ModelRunError(DvflowError):
    """No run recorded the model version being registered."""

    exit_code = 6


def producing_run(client: MlflowClient, experiment_ids: list[str], model: ModelSource) -> Run:
    """The newest run that recorded ``model``'s path with its current hash as an output
    (a stage run rather than its pipeline run).

    Raises:
        ModelRunError: no run did.
    """
    key = f"tags.`{tags.DVC_OUT_PREFIX}{model.path}`"
    literal = filter_literal(model.hash)
    runs = list(
        client.search_runs(
            experiment_ids, f"{key} = {literal}", max_results=50, order_by=["start_time DESC"]
        )
    )
    stage_runs = [r for r in runs if r.data.tags.get(tags.KIND) == tags.KIND_STAGE]
    if not runs:
        raise ModelRunError(
            f"no recorded run produced {model.path} as it is now ({model.hash}): run "
            "'dvflow repro' to record it, or name the run with --run."
        )
    return (stage_runs or runs)[0]


def _check_run(run: Run, model: ModelSource) -> None:
    recorded = run.data.tags.get(f"{tags.DVC_OUT_PREFIX}{model.path}")
    if recorded != model.hash:
        found = f"records {recorded}" if recorded else "did not output it"
        raise ModelRunError(
            f"run {run.info.run_id} {found}, but DVC records {model.hash} for {model.path}: "
            "check out that run's data ('dvflow checkout RUN'), or leave out --run."
        )


def _load_estimator(path: Path) -> Any:
    """The scikit-learn estimator pickled at ``path`` (the user's own file)."""
    with path.open("rb") as file:
        model = pickle.load(file)  # the project's own model file
    try:
        from sklearn.base import BaseEstimator

        estimator = isinstance(model, BaseEstimator)
    except ImportError:  # no scikit-learn: it cannot be a scikit-learn model
        estimator = False
    if not estimator:
        raise ProjectInputError(
            f"{path.name} holds a {type(model).__name__}, not a scikit-learn model: save "
            "it with an MLflow flavour (mlflow.<flavour>.save_model) into a folder and "
            "track that, or register it with --reference."
        )
    return model


def _mlflow_model_folder(workdir: Path, local: Path) -> Path:
    """A folder in MLflow's format for the model at ``local``."""
    if local.is_dir():
        if (local / MLMODEL).is_file():
            return local
        raise ProjectInputError(
            f"{local} is a folder without an {MLMODEL} file: save the model with "
            "mlflow.<flavour>.save_model, or register it with --reference."
        )
    import mlflow.sklearn
    import skops.io

    folder = workdir / "model"
    estimator = _load_estimator(local)
    # MLflow's default format (skops) refuses types it does not know (a forest's trees)
    # unless they are trusted: they are those of the project's own model, which the
    # project already loads as a pickle.
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(estimator))
    mlflow.sklearn.save_model(estimator, str(folder), skops_trusted_types=trusted)
    return folder


def _log_model(
    client: MlflowClient, run: Run, name: str, local: Path, model_tags: dict[str, str]
) -> str:
    """Log the model at ``local`` as a logged model of ``run``; its ``models:/`` URI."""
    from mlflow.entities import LoggedModelStatus

    with tempfile.TemporaryDirectory(prefix="dvflow-model-") as workdir:
        folder = _mlflow_model_folder(Path(workdir), local)
        logged = client.create_logged_model(
            experiment_id=run.info.experiment_id,
            name=name,
            source_run_id=run.info.run_id,
            tags=model_tags,
        )
        client.log_model_artifacts(logged.model_id, str(folder))
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged.model_id


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name)
        except MlflowException:
            client.get_registered_model(name)  # created meanwhile by a teammate


def register_model(
    workspace: Workspace,
    ref: str,
    name: str,
    *,
    run: str | None = None,
    alias: str | None = None,
    reference: bool = False,
    force: bool = False,
) -> Registration:
    """Register the DVC-tracked model ``ref`` as a new version of ``name``.

    Args:
        workspace: the project and its tracking store.
        ref: a path (relative to the current folder) or a ``dvc.yaml`` artifact name.
        name: the registered model's name.
        run: the run that produced it (id, prefix or name); default: the newest run
            that recorded the model's current hash as an output.
        alias: an alias to point at the new version.
        reference: store no copy: the version's source is the DVC remote's object.
        force: register even if a teammate could not rebuild it (recorded as a tag).

    Returns:
        The new version.

    Raises:
        UnpublishableError: the lineage has gaps and ``force`` is not set.
        ModelRunError: no run (or not the named one) recorded this model.
        ProjectInputError: ``ref`` is no DVC-tracked output, or cannot be logged.
        NoRemoteError: ``reference`` without a DVC remote.
    """
    from dvc.repo import Repo

    root = workspace.project.root
    cwd = Path.cwd()
    with working_directory(root), Repo(str(root)) as repo:
        model = locate_model(repo, ref, cwd)
        client, experiment_ids = open_experiment(workspace)
        found = (
            find_run(client, experiment_ids, run)
            if run
            else producing_run(client, experiment_ids, model)
        )
        _check_run(found, model)
        run_tags = dict(found.data.tags)
        gaps = lineage_gaps(repo, run_tags, model)
    if gaps and not force:
        raise UnpublishableError(model.path, gaps)
    if reference and model.location is None:
        raise NoRemoteError("--reference")
    commit = recording_commit(root, run_tags)
    version_tags = schema.version_tags(model, commit, reference, gaps)
    _ensure_registered_model(client, name)
    run_id = found.info.run_id
    if reference:
        assert model.location is not None
        source = model.location
        created = client.create_model_version(name, source, run_id=run_id, tags=version_tags)
    else:
        local = root / model.path
        if not local.exists():
            raise ProjectInputError(
                f"{model.path} is not in the workspace: run 'dvc pull {model.path}' "
                "(or register it with --reference)."
            )
        model_id = _log_model(client, found, name, local, version_tags)
        source = f"models:/{model_id}"
        created = client.create_model_version(
            name, source, run_id=run_id, tags=version_tags, model_id=model_id
        )
    version = str(created.version)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return Registration(
        name, version, run_id, source, model, commit, reference, alias, gaps if force else []
    )

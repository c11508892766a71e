"""Opening the tracking side of a project: settings, store, client and experiment.

Both the in-script API and ``dvflow repro`` go through ``open_session`` so that they
always resolve the same store and experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.config import Settings, load_settings
from dvflow.project import Project, exclude_locally
from dvflow.store import (
    DEFAULT_ARTIFACTS,
    DEFAULT_DB,
    default_tracking_uri,
    ensure_experiment,
    open_client,
    resolve_tracking_uri,
    sqlite_path,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient


@dataclass(frozen=True)
class Target:
    """Where runs go: the resolved tracking URI and experiment name."""

    tracking_uri: str
    experiment: str
    artifacts: Path | None


@dataclass(frozen=True)
class Session:
    """An open client on the target store, with the experiment's id."""

    target: Target
    client: MlflowClient
    experiment_id: str


def resolve_target(
    project: Project, *, tracking_uri: str | None = None, experiment: str | None = None
) -> Target:
    """Resolve store and experiment: flags > environment > config file > defaults.

    Cheap: imports nothing heavy, opens nothing.
    """
    settings: Settings = load_settings(
        project.home, tracking_uri=tracking_uri, experiment=experiment
    )
    uri = resolve_tracking_uri(project, settings.tracking_uri)
    # A local SQLite store keeps artifacts beside it; a server decides its own.
    db = sqlite_path(uri)
    artifacts = db.parent / DEFAULT_ARTIFACTS if db is not None else None
    return Target(uri, settings.experiment or project.name, artifacts)


def open_session(target: Target, project: Project | None = None) -> Session:
    """Open (creating once, if needed) the store and the experiment of ``target``.

    With ``project`` given and the default embedded store, the store's files are kept
    out of git's view (``.git/info/exclude``) so they never make the tree dirty.
    """
    if project is not None and target.tracking_uri == default_tracking_uri(project):
        exclude_locally(project, [DEFAULT_DB, f"{DEFAULT_DB}.lock", f"{DEFAULT_ARTIFACTS}/"])
    client = open_client(target.tracking_uri, target.artifacts)
    experiment_id = ensure_experiment(client, target.experiment, target.artifacts)
    return Session(target, client, experiment_id)

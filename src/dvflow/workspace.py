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
from dvflow.tracking.store import (
    ensure_experiment,
    open_client,
    resolve_tracking_uri,
    sqlite_artifacts,
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
    artifacts = sqlite_artifacts(db) if db is not None else None
    return Target(uri, settings.experiment or project.name, artifacts)


def keep_store_out_of_git(project: Project, target: Target) -> None:
    """List dvflow's local files inside the project in ``.git/info/exclude``: a SQLite
    store (with its lock and artifacts) and dvflow's own state, so that they never make
    the tree dirty nor change its fingerprint. Nothing of the user's is changed."""
    from dvflow.tracking.runindex import INDEX_DIR

    patterns = [f"{INDEX_DIR.as_posix()}/"]
    db = sqlite_path(target.tracking_uri)
    home = project.home.resolve()
    if db is not None:
        for path, suffix in ((db, ""), (Path(f"{db}.lock"), ""), (target.artifacts, "/")):
            if path is not None and path.resolve().is_relative_to(home):
                patterns.append(path.resolve().relative_to(home).as_posix() + suffix)
    exclude_locally(project, patterns)


def open_session(target: Target, project: Project | None = None) -> Session:
    """Open (creating once, if needed) the store and the experiment of ``target``.

    With ``project`` given, the store's files are kept out of git's view (see
    ``keep_store_out_of_git``).
    """
    if project is not None:
        keep_store_out_of_git(project, target)
    client = open_client(target.tracking_uri, target.artifacts)
    experiment_id = ensure_experiment(client, target.experiment, target.artifacts)
    return Session(target, client, experiment_id)

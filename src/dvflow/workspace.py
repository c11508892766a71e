"""The workspace: a project with its settings, tracking store and experiment, resolved once.

Every caller (``dvflow repro``, the in-script API, ``demo``, ``ui``, the recorder) goes
through ``Workspace``, as DVC's commands go through ``Repo``: the same project always
resolves to the same store and experiment.

Resolving is cheap (no mlflow import, nothing opened). ``prepare`` makes the store ready
for stage scripts to write to; ``session`` opens an MLflow client on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.config import Settings, load_settings
from dvflow.project import STATE_DIR, Project, exclude_locally, find_project
from dvflow.tracking.store import (
    check_reachable,
    default_experiment_name,
    ensure_experiment,
    experiment_exists,
    experiment_name_of,
    open_client,
    resolve_tracking_uri,
    sqlite_artifacts,
    sqlite_path,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient


@dataclass(frozen=True)
class Target:
    """Where runs go: the resolved tracking URI, experiment name and artifact folder."""

    tracking_uri: str
    experiment: str
    artifacts: Path | None


@dataclass(frozen=True)
class Session:
    """An open client on the target store, with the experiment's id."""

    target: Target
    client: MlflowClient
    experiment_id: str


def open_session(target: Target) -> Session:
    """Open (creating once, if needed) the store and the experiment of ``target``."""
    client = open_client(target.tracking_uri, target.artifacts)
    experiment_id = ensure_experiment(client, target.experiment, target.artifacts)
    return Session(target, client, experiment_id)


class Workspace:
    """One project, its settings, and where its runs go."""

    def __init__(self, project: Project, settings: Settings) -> None:
        self.project = project
        self.settings = settings
        uri = resolve_tracking_uri(project, settings.tracking_uri)
        # A local SQLite store keeps artifacts beside it; a server decides its own.
        db = sqlite_path(uri)
        experiment = settings.experiment
        if experiment is None and settings.experiment_id is not None:
            experiment = experiment_name_of(uri, settings.experiment_id)  # MLflow's variable
        self.target = Target(
            uri,
            experiment or default_experiment_name(uri, project.name),
            sqlite_artifacts(db) if db is not None else None,
        )
        self._session: Session | None = None
        self._excluded = False

    @classmethod
    def find(
        cls,
        start: Path | None = None,
        *,
        require_dvc: bool = False,
        tracking_uri: str | None = None,
        experiment: str | None = None,
    ) -> Workspace:
        """The workspace of the project holding ``start`` (default: the current folder).

        ``tracking_uri`` and ``experiment`` are flags: they beat the environment, which
        beats ``.dvflow/config.yaml``.

        Raises:
            NotAProjectError: not inside a git repository (or DVC project with
                ``require_dvc``).
            ConfigError: ``.dvflow/config.yaml`` is invalid.
        """
        project = find_project(start, require_dvc=require_dvc)
        return cls.of(project, tracking_uri=tracking_uri, experiment=experiment)

    @classmethod
    def of(
        cls, project: Project, *, tracking_uri: str | None = None, experiment: str | None = None
    ) -> Workspace:
        """The workspace of an already found ``project``."""
        settings = load_settings(project.home, tracking_uri=tracking_uri, experiment=experiment)
        return cls(project, settings)

    @property
    def tracking_uri(self) -> str:
        """The resolved tracking URI (may hold credentials: print ``display_uri`` of it)."""
        return self.target.tracking_uri

    @property
    def experiment(self) -> str:
        """The resolved experiment name."""
        return self.target.experiment

    def keep_store_out_of_git(self) -> None:
        """List dvflow's local files inside the project in ``.git/info/exclude``: a SQLite
        store (with its lock and artifacts) and dvflow's own state, so that they never make
        the tree dirty nor change its fingerprint. Nothing of the user's is changed.
        Done once per workspace (``prepare`` and ``session`` both need it)."""
        if self._excluded:
            return
        self._excluded = True
        patterns = [f"{STATE_DIR.as_posix()}/"]
        db = sqlite_path(self.target.tracking_uri)
        home = self.project.home.resolve()
        if db is not None:
            for path, suffix in ((db, ""), (Path(f"{db}.lock"), ""), (self.target.artifacts, "/")):
                if path is not None and path.resolve().is_relative_to(home):
                    patterns.append(path.resolve().relative_to(home).as_posix() + suffix)
        exclude_locally(self.project, patterns)

    def prepare(self) -> None:
        """Make sure stage scripts can write to the store without creating anything.

        A missing store or experiment is created now, before any stage script could race
        to create it (a script's ``mlflow.start_run()`` creates a missing experiment,
        with its artifacts wherever it happens to run). An existing one is only checked,
        without importing mlflow.
        """
        check_reachable(self.target.tracking_uri)
        self.keep_store_out_of_git()
        if not experiment_exists(self.target.tracking_uri, self.target.experiment):
            self.session()

    def session(self) -> Session:
        """An MLflow client on the store, with the experiment's id (opened once)."""
        if self._session is None:
            self.keep_store_out_of_git()
            self._session = open_session(self.target)
        return self._session

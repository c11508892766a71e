"""The MLflow tracking store: which one, created once, and the experiment in it.

Default: an embedded SQLite store at ``<project home>/mlflow.db`` with artifacts in
``<project home>/mlartifacts``. ``MLFLOW_TRACKING_URI`` or ``tracking_uri`` in
``.dvflow/config.yaml`` choose another; a relative SQLite path resolves against the
project home, never against the current folder.

A fresh SQLite store is created and migrated once, under a file lock, before anything
writes to it in parallel: several processes opening a fresh MLflow SQLite store at
once crash ('table ... already exists').
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow import env
from dvflow.errors import TrackingStoreError, one_line
from dvflow.project import Project
from dvflow.snapshot.redact import strip_credentials

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_DB = "mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"
_SQLITE = "sqlite:///"
# MLflow's error codes for HTTP 401 and 403.
_REFUSALS = ("UNAUTHENTICATED", "PERMISSION_DENIED")


def default_tracking_uri(project: Project) -> str:
    """The embedded store of ``project``."""
    return f"{_SQLITE}{project.home / DEFAULT_DB}"


def resolve_tracking_uri(project: Project, configured: str | None) -> str:
    """Make a configured URI absolute against the project home.

    >>> from dvflow.project import Project
    >>> project = Project(root=Path("/p"), home=Path("/p"), git_root=None, has_dvc=True)
    >>> resolve_tracking_uri(project, "sqlite:///mlflow.db")
    'sqlite:////p/mlflow.db'
    >>> resolve_tracking_uri(project, "http://mlflow.acme.dev:5000")
    'http://mlflow.acme.dev:5000'
    """
    if not configured:
        return default_tracking_uri(project)
    if configured.startswith(_SQLITE):
        path = Path(configured[len(_SQLITE) :])
        if not path.is_absolute():
            return f"{_SQLITE}{project.home / path}"
        return configured
    if "://" not in configured and not configured.startswith(("databricks", "file:")):
        path = Path(configured)
        return str(path if path.is_absolute() else project.home / path)
    return configured


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite URI, else None."""
    return Path(uri[len(_SQLITE) :]) if uri.startswith(_SQLITE) else None


def display_uri(uri: str) -> str:
    """The URI as it may be printed or recorded: credentials stripped."""
    return strip_credentials(uri)


def sqlite_artifacts(db: Path) -> Path:
    """Where a SQLite store keeps its artifacts: a folder beside the database."""
    return db.parent / DEFAULT_ARTIFACTS


def _sqlite_has_row(db: Path, sql: str, *args: str) -> bool:
    """Whether a read-only query on ``db`` finds a row; False if the query fails.

    A probe that spares importing mlflow (seconds) on every ``dvflow repro``.
    """
    if not db.is_file() or db.stat().st_size == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            return conn.execute(sql, args).fetchone() is not None
    except sqlite3.Error:
        return False


def _sqlite_ready(db: Path) -> bool:
    """Whether MLflow has already created and stamped the schema of ``db``."""
    return _sqlite_has_row(db, "SELECT version_num FROM alembic_version")


def sqlite_experiment_exists(db: Path, name: str) -> bool:
    """Whether a SQLite store has an active experiment ``name``."""
    return _sqlite_has_row(
        db, "SELECT 1 FROM experiments WHERE name = ? AND lifecycle_stage = 'active'", name
    )


def http_experiment_exists(uri: str, name: str, timeout: float = 5.0) -> bool:
    """Whether a tracking server has experiment ``name`` (False when unsure: a server
    that asks for credentials, or any error), asked with one REST call instead of
    importing mlflow (seconds) on every ``dvflow repro``."""
    query = urllib.parse.urlencode({"experiment_name": name})
    url = f"{strip_credentials(uri).rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?{query}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            found = json.loads(response.read()).get("experiment", {})
            return bool(found) and found.get("lifecycle_stage") == "active"
    except (OSError, ValueError):
        return False


def experiment_exists(uri: str, name: str) -> bool:
    """Whether the store at ``uri`` is ready and has an active experiment ``name``,
    without importing mlflow. False when it cannot tell."""
    db = sqlite_path(uri)
    if db is not None:
        return _sqlite_ready(db) and sqlite_experiment_exists(db, name)
    if uri.startswith(("http://", "https://")):
        return http_experiment_exists(uri, name)
    return False


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, with a clear message, when an HTTP tracking server does not answer.

    MLflow's own client retries for minutes before giving up.
    """
    if not uri.startswith(("http://", "https://")):
        return
    # Only whether a server answers: credentials are not needed (any HTTP status counts).
    health = strip_credentials(uri).rstrip("/") + "/health"
    context = None
    if os.environ.get(env.MLFLOW_TRACKING_INSECURE_TLS, "").lower() in ("1", "true"):
        import ssl

        context = ssl._create_unverified_context()  # the user asked for it
    try:
        with urllib.request.urlopen(health, timeout=timeout, context=context):
            return
    except urllib.error.HTTPError:
        return  # it answered: the server is there, even if /health is not exposed
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingStoreError(display_uri(uri), f"no answer ({reason})") from exc


def ensure_store(uri: str, artifacts: Path | None = None) -> None:
    """Create and migrate a SQLite store once, under a lock; check an HTTP server.

    ``artifacts`` is the default artifact folder of a new SQLite store (default: a
    ``mlartifacts`` folder beside the database).
    """
    check_reachable(uri)
    db = sqlite_path(uri)
    if db is None or _sqlite_ready(db):
        return
    artifacts = artifacts or sqlite_artifacts(db)
    from filelock import FileLock

    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(db) + ".lock", timeout=120):
            if _sqlite_ready(db):
                return
            from dvflow.integrations.mlflow_internals import create_sqlite_schema

            create_sqlite_schema(uri, artifacts)
    except Exception as exc:  # any failure here means the store is unusable
        raise TrackingStoreError(display_uri(uri), one_line(exc)) from exc


def open_client(uri: str, artifacts: Path | None = None) -> MlflowClient:
    """An ``MlflowClient`` on a store that is ready to be written."""
    ensure_store(uri, artifacts)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, artifacts: Path | None) -> str:
    """The id of experiment ``name``, created (artifacts under ``artifacts``) if missing.

    Safe when several processes create it at once.
    """
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_experiment_by_name(name)
    except MlflowException as exc:
        if exc.error_code not in _REFUSALS:
            raise
        # The first request of every command: a server that wants credentials says so here.
        raise TrackingStoreError(
            display_uri(client.tracking_uri),
            f"the server refused the request ({exc.error_code}); give your credentials in "
            f"{env.MLFLOW_TRACKING_USERNAME} and {env.MLFLOW_TRACKING_PASSWORD} "
            f"(or {env.MLFLOW_TRACKING_TOKEN})",
        ) from exc
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise TrackingStoreError(
                "experiment",
                f"'{name}' is deleted; restore it with 'mlflow experiments "
                f"restore --experiment-id {found.experiment_id}' or pick another name",
            )
        return str(found.experiment_id)
    location = None
    if artifacts is not None:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        location = (artifacts / safe).as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)

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

import base64
import contextlib
import errno
import os
import sqlite3
import urllib.parse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import env
from dvflow.errors import StoreUnreachableError, TrackingStoreError, one_line
from dvflow.project import Project
from dvflow.snapshot.redact import strip_credentials

if TYPE_CHECKING:
    import requests
    from mlflow import MlflowClient

DEFAULT_DB = "mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"
_SQLITE = "sqlite:///"
# MLflow's error codes for HTTP 401 and 403.
_REFUSALS = ("UNAUTHENTICATED", "PERMISSION_DENIED")


# How long a read of a SQLite store waits for another process's lock (a long write, a
# backup) before it fails, as MLflow's own writes do: a store busy for seconds is
# waited for, not reported unusable.
SQLITE_BUSY_TIMEOUT_S = 60.0


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


def _sqlite_row(db: Path, sql: str, *args: str) -> tuple[Any, ...] | None:
    """The first row of a read-only query on ``db``; None if none, or the query fails.

    A probe that spares importing mlflow (seconds) on every ``dvflow repro``.
    """
    if not db.is_file() or db.stat().st_size == 0:
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)
        ) as conn:
            row: tuple[Any, ...] | None = conn.execute(sql, args).fetchone()
            return row
    except sqlite3.Error:
        return None


def _sqlite_has_row(db: Path, sql: str, *args: str) -> bool:
    """Whether a read-only query on ``db`` finds a row; False if the query fails."""
    return _sqlite_row(db, sql, *args) is not None


def _sqlite_value(db: Path, sql: str, *args: str) -> Any:
    """The first column of the first row of a read-only query, else None."""
    row = _sqlite_row(db, sql, *args)
    return row[0] if row else None


def _sqlite_ready(db: Path) -> bool:
    """Whether MLflow has already created and stamped the schema of ``db``."""
    return _sqlite_has_row(db, "SELECT version_num FROM alembic_version")


def sqlite_experiment_exists(db: Path, name: str) -> bool:
    """Whether a SQLite store has an active experiment ``name``."""
    return _sqlite_has_row(
        db, "SELECT 1 FROM experiments WHERE name = ? AND lifecycle_stage = 'active'", name
    )


def _mlflow_basic_credentials() -> tuple[str | None, str | None]:
    """MLflow's username and password: the environment, else ``~/.mlflow/credentials``
    (its ``[mlflow]`` section), each on its own, as ``read_mlflow_creds`` reads them."""
    import configparser

    username = os.environ.get(env.MLFLOW_TRACKING_USERNAME) or None
    password = os.environ.get(env.MLFLOW_TRACKING_PASSWORD) or None
    path = Path.home() / ".mlflow" / "credentials"
    if (username is None or password is None) and path.is_file():
        parser = configparser.ConfigParser()
        with contextlib.suppress(configparser.Error, OSError):
            parser.read(path)
        if parser.has_section("mlflow"):
            section = parser["mlflow"]
            username = username or section.get(env.MLFLOW_TRACKING_USERNAME.lower())
            password = password or section.get(env.MLFLOW_TRACKING_PASSWORD.lower())
    return username, password


def _is_true(name: str) -> bool:
    # MLflow's boolean variables: "true" or "1", case-insensitive.
    return os.environ.get(name, "").strip().lower() in ("true", "1")


def server_request_options() -> dict[str, Any]:
    """How MLflow's own client calls a tracking server, from MLflow's variables
    (``MlflowHostCreds`` and ``http_request`` in ``mlflow/utils/rest_utils.py``):

    - ``verify``: ``MLFLOW_TRACKING_SERVER_CERT_PATH`` if set, else not
      ``MLFLOW_TRACKING_INSECURE_TLS``; with ``True``, requests itself honours
      ``REQUESTS_CA_BUNDLE`` (and ``CURL_CA_BUNDLE``), as it does for MLflow;
    - ``cert``: ``MLFLOW_TRACKING_CLIENT_CERT_PATH``;
    - ``Authorization``: Basic with ``MLFLOW_TRACKING_USERNAME`` and
      ``MLFLOW_TRACKING_PASSWORD`` (or ``~/.mlflow/credentials``), else Bearer
      ``MLFLOW_TRACKING_TOKEN``.

    Plugin authentication (``MLFLOW_TRACKING_AUTH``, AWS SigV4) needs mlflow itself:
    there dvflow's look-ups say "unsure" and MLflow's client decides.
    """
    server_cert = os.environ.get(env.MLFLOW_TRACKING_SERVER_CERT_PATH) or None
    options: dict[str, Any] = {
        "verify": server_cert or not _is_true(env.MLFLOW_TRACKING_INSECURE_TLS),
        "headers": {},
    }
    client_cert = os.environ.get(env.MLFLOW_TRACKING_CLIENT_CERT_PATH) or None
    if client_cert:
        options["cert"] = client_cert
    username, password = _mlflow_basic_credentials()
    token = os.environ.get(env.MLFLOW_TRACKING_TOKEN) or None
    if username and password:
        pair = base64.standard_b64encode(f"{username}:{password}".encode()).decode()
        options["headers"]["Authorization"] = f"Basic {pair}"
    elif token:
        options["headers"]["Authorization"] = f"Bearer {token}"
    return options


def _server_get(uri: str, path: str, timeout: float) -> requests.Response:
    """GET ``path`` of the tracking server at ``uri``, as MLflow's client would (its TLS
    and credential variables), once, without MLflow's minutes of retries."""
    import requests

    url = f"{strip_credentials(uri).rstrip('/')}/{path}"
    with requests.Session() as session:
        if not _is_true(env.MLFLOW_TRACKING_INSECURE_TLS):
            return session.get(url, timeout=timeout, **server_request_options())
        import urllib3

        # The user asked for unverified TLS; MLflow warns once per request, not us.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return session.get(url, timeout=timeout, **server_request_options())


def _server_json(uri: str, path: str, timeout: float) -> dict[str, Any] | None:
    """The JSON answer of a REST call, or None when unsure (any error, a refusal)."""
    import requests

    try:
        response = _server_get(uri, path, timeout)
        if response.status_code != 200:
            return None
        data = response.json()
    except (requests.RequestException, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def http_experiment_exists(uri: str, name: str, timeout: float = 5.0) -> bool:
    """Whether a tracking server has experiment ``name`` (False when unsure: a server
    that refuses the credentials, or any error), asked with one REST call instead of
    importing mlflow (seconds) on every ``dvflow repro``."""
    query = urllib.parse.urlencode({"experiment_name": name})
    data = _server_json(uri, f"api/2.0/mlflow/experiments/get-by-name?{query}", timeout)
    found = (data or {}).get("experiment") or {}
    return bool(found) and found.get("lifecycle_stage") == "active"


def experiment_exists(uri: str, name: str) -> bool:
    """Whether the store at ``uri`` is ready and has an active experiment ``name``,
    without importing mlflow. False when it cannot tell."""
    db = sqlite_path(uri)
    if db is not None:
        return _sqlite_ready(db) and sqlite_experiment_exists(db, name)
    if uri.startswith(("http://", "https://")):
        return http_experiment_exists(uri, name)
    return False


def is_databricks(uri: str) -> bool:
    """Whether ``uri`` is a Databricks workspace (``databricks``, ``databricks://profile``).

    >>> is_databricks("databricks://prod"), is_databricks("http://databricks.example")
    (True, False)
    """
    return uri == "databricks" or uri.startswith(("databricks:", "databricks-uc"))


def default_experiment_name(uri: str, project_name: str) -> str:
    """The experiment runs go to when none is configured: the project folder's name.

    Databricks names experiments by their workspace path, which must be absolute: there
    the default is in the workspace's shared folder, which every user may write.

    >>> default_experiment_name("sqlite:////p/mlflow.db", "churn")
    'churn'
    >>> default_experiment_name("databricks", "churn")
    '/Shared/churn'
    """
    return f"/Shared/{project_name}" if is_databricks(uri) else project_name


def experiment_name_of(uri: str, experiment_id: str, timeout: float = 5.0) -> str:
    """The name of the active experiment ``experiment_id`` (``MLFLOW_EXPERIMENT_ID``).

    Raises:
        TrackingStoreError: the store has no active experiment with that id.
    """
    name: str | None = None
    db = sqlite_path(uri)
    if db is not None:
        name = _sqlite_value(
            db,
            "SELECT name FROM experiments WHERE experiment_id = ? AND lifecycle_stage = 'active'",
            experiment_id,
        )
    elif uri.startswith(("http://", "https://")):
        query = urllib.parse.urlencode({"experiment_id": experiment_id})
        data = _server_json(uri, f"api/2.0/mlflow/experiments/get?{query}", timeout)
        found = (data or {}).get("experiment") or {}
        if found.get("lifecycle_stage") == "active":
            name = found.get("name")
    else:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):
            experiment = MlflowClient(tracking_uri=uri).get_experiment(experiment_id)
            if experiment.lifecycle_stage == "active":
                name = experiment.name
    if not name:
        raise TrackingStoreError(
            display_uri(uri),
            f"{env.MLFLOW_EXPERIMENT_ID}={experiment_id} names no active experiment there; "
            f"unset it, or name the experiment with {env.DVFLOW_EXPERIMENT} or --experiment",
        )
    return str(name)


# URI schemes MLflow ships a tracking store for (plugins add theirs as entry points).
_KNOWN_SCHEMES = frozenset(
    {"sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks", "uc"}
)
_STORE_PLUGINS = "mlflow.tracking_store"


def _check_scheme(uri: str) -> None:
    if "://" not in uri and not uri.startswith(("databricks", "file:")):
        return  # a local folder (MLflow's file store)
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in _KNOWN_SCHEMES or scheme.startswith("databricks"):
        return
    from importlib.metadata import entry_points

    if any(point.name == scheme for point in entry_points(group=_STORE_PLUGINS)):
        return
    raise TrackingStoreError(
        display_uri(uri),
        f"MLflow has no tracking store for the URI scheme '{scheme}' "
        "(sqlite:///path/mlflow.db, http(s)://server, postgresql://..., a folder)",
    )


def _writable(path: Path) -> bool:
    """Whether ``path`` (or, if missing, the nearest folder above it) can be written."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return os.access(path, os.W_OK)


def _schema_of(uri: str, db: Path) -> tuple[set[str], str | None]:
    """The tables of a SQLite database and its Alembic revision (None: not stamped)."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)
        ) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables:
                return tables, None
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise TrackingStoreError(
            display_uri(uri), f"{db} is not a usable SQLite database ({exc})"
        ) from exc
    return tables, row[0] if row else None


def _check_sqlite(uri: str, db: Path) -> None:
    """A SQLite store is a writable file (or can be created) with MLflow's own schema,
    at the revision the installed MLflow expects."""
    shown = display_uri(uri)
    if db.is_dir():
        raise TrackingStoreError(
            shown, f"{db} is a folder; name a database file, e.g. sqlite:///{db / DEFAULT_DB}"
        )
    if not db.exists():
        if not _writable(db.parent):
            raise TrackingStoreError(shown, f"cannot create {db}: its folder is not writable")
        return
    if not (_writable(db) and _writable(db.parent)):
        # SQLite writes a journal beside the database: both must be writable.
        raise TrackingStoreError(shown, f"{db} (or its folder) is read-only")
    if db.stat().st_size == 0:
        return  # created empty: MLflow creates the schema in it
    from dvflow.integrations.mlflow_schema import known_revisions

    revisions, heads = known_revisions()
    tables, revision = _schema_of(uri, db)
    if (tables and revision is None) or (heads and revision not in heads):
        # Another process may be creating or migrating it right now: ask again once
        # it is done (ensure_store holds this lock while it migrates).
        from filelock import FileLock

        with FileLock(str(db) + ".lock", timeout=120):
            tables, revision = _schema_of(uri, db)
    if revision is None:
        if tables:
            raise TrackingStoreError(shown, f"{db} is a SQLite database but not an MLflow store")
        return
    if not heads or revision in heads:
        return
    if revision in revisions:
        raise TrackingStoreError(
            shown,
            f"its schema (revision {revision}) is older than the installed MLflow expects; "
            f"back up {db}, then migrate it with 'mlflow db upgrade {shown}'",
        )
    raise TrackingStoreError(
        shown,
        f"its schema (revision {revision}) was made by a newer MLflow than the one installed; "
        "upgrade MLflow ('pip install -U mlflow')",
    )


def _check_server(uri: str, timeout: float) -> None:
    """One request to MLflow's REST API, as MLflow's client makes it (its TLS and
    credential variables): fails in seconds where the client retries for minutes."""
    import requests

    shown = display_uri(uri)
    try:
        answer = _server_get(uri, "api/2.0/mlflow/experiments/search?max_results=1", timeout)
    except requests.exceptions.SSLError as exc:
        raise TrackingStoreError(
            shown,
            f"its TLS certificate was not accepted ({_reason(exc)}); "
            f"point {env.MLFLOW_TRACKING_SERVER_CERT_PATH} or {env.REQUESTS_CA_BUNDLE} at "
            "your CA's certificate, as MLflow needs too",
        ) from exc
    except (requests.RequestException, OSError) as exc:
        raise StoreUnreachableError(shown, f"no answer ({_reason(exc)})") from exc
    status = answer.status_code
    try:
        body = answer.json()
    except ValueError:
        body = None
    if status == 200 and isinstance(body, dict):
        return
    if status in (401, 403):
        raise TrackingStoreError(
            shown,
            f"the server refused the credentials (HTTP {status}); set "
            f"{env.MLFLOW_TRACKING_USERNAME} and {env.MLFLOW_TRACKING_PASSWORD}, or "
            f"{env.MLFLOW_TRACKING_TOKEN}",
        )
    if status >= 500:
        raise TrackingStoreError(shown, f"the server failed (HTTP {status}); try again later")
    if isinstance(body, dict) and "error_code" in body:
        return  # MLflow's own refusal of this request: the server is MLflow
    raise TrackingStoreError(
        shown, f"it answers, but not as an MLflow tracking server (HTTP {status} from its API)"
    )


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, with a clear message, when the store cannot be used: an unknown URI
    scheme; a SQLite path that is a folder, read-only, not MLflow's, or at another
    schema revision than the installed MLflow's; a tracking server that does not
    answer, refuses the credentials, fails, or is not MLflow. A server is called as
    MLflow calls it (``server_request_options``): one behind a private CA that MLflow
    reaches is reachable here too.

    Raises:
        TrackingStoreError: what is wrong and what to do.
    """
    _check_scheme(uri)
    db = sqlite_path(uri)
    if db is not None:
        _check_sqlite(uri, db)
    elif uri.startswith(("http://", "https://")):
        _check_server(uri, timeout)


def _reason(exc: BaseException) -> str:
    """Why a request failed, without requests' wrapping (``Max retries exceeded...``)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    return one_line(getattr(inner, "reason", None) or inner)


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
        raise TrackingStoreError(display_uri(uri), describe_failure(exc)) from exc


def open_client(uri: str, artifacts: Path | None = None) -> MlflowClient:
    """An ``MlflowClient`` on a store that is ready to be written."""
    ensure_store(uri, artifacts)
    from mlflow import MlflowClient

    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # MLflow refuses the URI
        raise TrackingStoreError(display_uri(uri), describe_failure(exc)) from exc


def ensure_experiment(client: MlflowClient, name: str, artifacts: Path | None) -> str:
    """The id of experiment ``name``, created (artifacts under ``artifacts``) if missing.

    Safe when several processes create it at once.
    """
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_experiment_by_name(name)
    except MlflowException as exc:
        if exc.error_code not in _REFUSALS:
            raise TrackingStoreError(
                display_uri(client.tracking_uri), describe_failure(exc)
            ) from exc
        # The first request of every command: a server that wants credentials says so here.
        raise TrackingStoreError(
            display_uri(client.tracking_uri),
            f"the server refused the request ({exc.error_code}); give your credentials in "
            f"{env.MLFLOW_TRACKING_USERNAME} and {env.MLFLOW_TRACKING_PASSWORD} "
            f"(or {env.MLFLOW_TRACKING_TOKEN})",
        ) from exc
    except Exception as exc:  # the store itself fails (SQLAlchemy, I/O): exit 4
        raise TrackingStoreError(display_uri(client.tracking_uri), describe_failure(exc)) from exc
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


def describe_failure(exc: BaseException) -> str:
    """One line on why the store failed, with the cause a user can act on first: a full
    disk, a locked or read-only database, rather than SQLAlchemy's wrapping of it."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(c) for c in chain).lower()
    if (
        "disk is full" in text
        or "no space left" in text
        or any(getattr(c, "errno", None) == errno.ENOSPC for c in chain)
    ):
        return "no space left on the device that holds it; free some space and run again"
    if "readonly database" in text or "read-only" in text:
        return "the database is read-only; make it writable or point MLFLOW_TRACKING_URI elsewhere"
    if "database is locked" in text:
        return "the database stayed locked by another process; run again once it is done"
    return f"{type(exc).__name__}: {one_line(exc)}"

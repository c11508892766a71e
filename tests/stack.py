"""A team's services, started for real on 127.0.0.1: PostgreSQL, S3 (moto) and an MLflow
tracking server with basic authentication, its runs in PostgreSQL, its artifacts in S3.

Used as a pytest plugin by ``tests/team/conftest.py`` (session fixture ``team_stack``).
Each service gets a free port and a temporary folder; every process is watched while it
starts (a crash says so with its log instead of a time-out) and stopped at the end.

PostgreSQL's ``initdb`` refuses to run as root: as root the cluster is made and run by
the ``postgres`` user (``runuser``), in a folder of its own outside pytest's (which only
root may enter).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUCKET = "dvflow-team"
ADMIN = "admin"
ADMIN_PASSWORD = "admin-Pa55-word"
USER = "alice"
USER_PASSWORD = "alice-Pa55-word"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Where Debian keeps a PostgreSQL's programs when they are not on PATH.
_PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
_START_TIMEOUT_S = 90.0


class StackError(RuntimeError):
    """A service of the stack did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _program(name: str) -> str:
    found = shutil.which(name) or next(
        (str(b / name) for b in _PG_BIN if (b / name).exists()), None
    )
    if found is None:
        raise StackError(f"{name} is not installed: apt-get install postgresql")
    return found


def _beside_python(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _wait(ready: object, process: subprocess.Popen[bytes] | None, log: Path, what: str) -> None:
    """Wait until ``ready()`` is true; fail at once when ``process`` dies."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited {process.returncode}:\n{_tail(log)}")
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise StackError(f"{what} not ready after {_START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Stack:
    """Where the started services listen."""

    postgres_port: int
    s3_endpoint: str
    tracking_uri: str  # no credentials in it: they go in MLFLOW_TRACKING_USERNAME/PASSWORD
    folder: Path

    def dvc_remote(self, prefix: str) -> str:
        """An S3 URL for a DVC remote under ``prefix`` of the bucket."""
        return f"s3://{BUCKET}/{prefix}"

    def client(self) -> Any:
        """MLflow's client on the server; credentials from MLflow's variables (a
        teammate's environment, ``user_env``)."""
        from mlflow import MlflowClient

        return MlflowClient(self.tracking_uri)

    def s3_keys(self, prefix: str) -> list[str]:
        """The keys of the bucket's objects under ``prefix``."""
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, **_boto_credentials())
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def user_env(self) -> dict[str, str]:
        """A teammate's environment: the server, their MLflow credentials, S3 for DVC."""
        return {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_TRACKING_USERNAME": USER,
            "MLFLOW_TRACKING_PASSWORD": USER_PASSWORD,
            **AWS,
        }


class _Postgres:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.log = folder / "postgres.log"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    *(_program("initdb"), "-D", str(self.data), "-A", "trust"),
                    *("-U", "postgres", "--no-sync", "-E", "UTF8"),
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -F"
        started = subprocess.run(
            _as_postgres(
                [
                    *(_program("pg_ctl"), "-D", str(self.data), "-l", str(self.log)),
                    *("-w", "-o", options, "start"),
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise StackError(f"PostgreSQL did not start: {started.stderr}\n{_tail(self.log)}")
        for database in ("mlflow", "mlflow_auth"):
            subprocess.run(
                [
                    *(_program("createdb"), "-h", "127.0.0.1", "-p", str(self.port)),
                    *("-U", "postgres", database),
                ],
                check=True,
                capture_output=True,
            )

    def uri(self, database: str) -> str:
        # psycopg2 explicitly: plain postgresql:// means psycopg 3 to SQLAlchemy 2.
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                _as_postgres([_program("pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]),
                capture_output=True,
                check=False,
            )


def _start_s3(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = folder / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_beside_python("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    _wait(lambda: _answers(f"{endpoint}/moto-api/"), process, log, "moto_server")
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **_boto_credentials()).create_bucket(Bucket=BUCKET)
    return process, endpoint


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": AWS["AWS_DEFAULT_REGION"],
    }


def _start_mlflow(
    folder: Path, postgres: _Postgres, endpoint: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    auth_ini = folder / "basic_auth.ini"
    auth_ini.write_text(
        "[mlflow]\n"
        "default_permission = EDIT\n"
        f"database_uri = {postgres.uri('mlflow_auth')}\n"
        f"admin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = true\n"
        # Without a cache every request hashes a password (PBKDF2: tens of ms).
        "auth_cache_ttl_seconds = 300\n"
    )
    server_env = {
        **os.environ,
        **AWS,
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "team-suite-secret",
        # Otherwise it starts job workers (GBs of memory).
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        server_env.pop(name, None)
    log = folder / "mlflow-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(_beside_python("mlflow"), "server", "--app-name", "basic-auth"),
                *("--backend-store-uri", postgres.uri("mlflow")),
                *("--artifacts-destination", f"s3://{BUCKET}/mlflow"),
                *("--host", "127.0.0.1", "--port", str(port), "--workers", "2"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server_env,
            cwd=folder,
            start_new_session=True,
        )
    uri = f"http://127.0.0.1:{port}"
    _wait(lambda: _healthy(uri), process, log, "mlflow server")
    _create_user(uri)
    return process, uri


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _create_user(uri: str) -> None:
    """The teammates' account, made by the admin through MLflow's own client."""
    from mlflow.server.auth.client import AuthServiceClient

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = ADMIN
    os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN_PASSWORD
    try:
        AuthServiceClient(uri).create_user(USER, USER_PASSWORD)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    # The server's workers are its children: end the whole session it leads.
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """Start PostgreSQL, moto's S3 and an authenticated MLflow server; stop them after."""
    folder = Path(tempfile.mkdtemp(prefix="dvflow-team-stack-"))
    folder.chmod(0o755)
    postgres = _Postgres(folder / "pg")
    processes: list[subprocess.Popen[bytes]] = []
    server: subprocess.Popen[bytes] | None = None
    try:
        postgres.start()
        s3, endpoint = _start_s3(folder)
        processes.append(s3)
        server, uri = _start_mlflow(folder, postgres, endpoint)
        yield Stack(postgres.port, endpoint, uri, folder)
    finally:
        if server is not None:
            _stop_group(server)
        for process in processes:
            _stop(process)
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)

"""The team suite's services: one stack for the session (PostgreSQL, S3, an MLflow server
with basic authentication), and each test's teammates' environment pointing at it."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.stack import Stack, running_stack


@pytest.fixture(scope="session")
def team_stack() -> Iterator[Stack]:
    """PostgreSQL, moto's S3 and an authenticated MLflow server, on 127.0.0.1."""
    missing = [m for m in ("moto", "psycopg2", "s3fs") if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"the team suite needs pip install -e '.[team]' ({', '.join(missing)} missing)"
        # CI's team step sets it: there, a missing package is a failure, not a skip.
        if os.environ.get("DVFLOW_TEAM_REQUIRED"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_stack() as stack:
        yield stack


@pytest.fixture
def teammate(team_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """A teammate's environment: the server URL and their credentials in MLflow's own
    variables (a local, git-ignored settings file is issue 14's), S3 keys for DVC."""
    for name, value in team_stack.user_env().items():
        monkeypatch.setenv(name, value)
    return team_stack

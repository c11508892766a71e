"""Store failures said as what they are, and recording that never needs to write .git."""

import sqlite3
from pathlib import Path

import pytest

from dvflow.errors import TrackingStoreError
from dvflow.project import exclude_locally, find_project
from dvflow.tracking.store import check_reachable, describe_failure
from tests.conftest import TmpDir


def test_an_unwritable_exclude_file_does_not_stop_recording(scm: TmpDir) -> None:
    # What a read-only .git does to dvflow, reproduced for root too: the write fails.
    exclude = scm.path / ".git" / "info" / "exclude"
    exclude.unlink(missing_ok=True)
    exclude.mkdir(parents=True)
    exclude_locally(find_project(scm.path), ["mlflow.db"])  # no error: nothing written
    assert exclude.is_dir()


def test_a_full_disk_is_said_as_such(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA max_page_count = 2")
        with pytest.raises(sqlite3.OperationalError) as full:
            conn.executemany("INSERT INTO t VALUES (?)", [("x" * 4000,)] * 100)
    # As MLflow shows it: SQLAlchemy's "autoflush" wrapping of SQLite's error.
    try:
        try:
            raise full.value
        except sqlite3.OperationalError as exc:
            raise RuntimeError("(raised as a result of Query-invoked autoflush)") from exc
    except RuntimeError as wrapped:
        assert describe_failure(wrapped).startswith("no space left on the device")


def test_store_checks_need_no_mlflow_import(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    with pytest.raises(TrackingStoreError, match="is a folder"):
        check_reachable(f"sqlite:///{folder}")
    with pytest.raises(TrackingStoreError, match="no tracking store for the URI scheme 'foo'"):
        check_reachable("foo://x")
    check_reachable(f"sqlite:///{folder / 'new.db'}")  # created later: fine


def test_the_installed_mlflow_schema_head_is_what_it_creates(store_template: Path) -> None:
    from dvflow.integrations.mlflow_schema import known_revisions

    revisions, heads = known_revisions()
    with sqlite3.connect(store_template) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision in heads and heads <= revisions and len(revisions) > 10

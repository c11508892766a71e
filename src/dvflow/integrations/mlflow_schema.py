"""MLflow's SQL store, read without importing mlflow (which takes seconds).

- The schema revision the installed MLflow expects, from the revision ids of its Alembic
  migration scripts. A SQLite store stamped with another revision is refused by
  MLflow's client (it raises when opened); dvflow says so before a pipeline runs, with
  the command that migrates it.
- A search of runs by tags, for ``dvflow runs`` (see ``search_runs_sqlite``).
- A long metric history written in one transaction (see ``insert_metric_history``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_REVISION = re.compile(r"^revision\s*=\s*['\"](\w+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.*)$", re.MULTILINE)
_ID = re.compile(r"['\"](\w+)['\"]")


def _migrations() -> Path | None:
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "store/db_migrations/versions"
    return folder if folder.is_dir() else None


@functools.cache
def known_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision the installed MLflow knows, its heads). Empty when MLflow's
    migrations cannot be found (then nothing is checked)."""
    folder = _migrations()
    if folder is None:
        return frozenset(), frozenset()
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in folder.glob("*.py"):
        text = script.read_text(encoding="utf-8", errors="replace")
        found = _REVISION.search(text)
        if found:
            revisions.add(found.group(1))
        down = _DOWN_REVISION.search(text)
        if down:
            parents.update(_ID.findall(down.group(1)))
    return frozenset(revisions), frozenset(revisions - parents)


# --- Searching runs in a SQLite store without importing mlflow ---------------------
#
# `dvflow runs` answers in a fraction of a second where importing mlflow alone takes
# 1.7 s or more. The query reads the tables MLflow's SQLAlchemy store writes (runs,
# experiments, tags, latest_metrics) read-only, and gives up (None: ask MLflow) on
# anything unexpected: a revision this MLflow does not know, a missing column, a deleted
# experiment. tests/func/test_fast_listing.py compares it with MlflowClient.search_runs
# on the same store, so an upgrade that changes these tables fails there.


@dataclass(frozen=True)
class TagCondition:
    """A condition on one tag: it exists (``value`` None), equals ``value``, or starts
    with it (``prefix``). Case-sensitive, as MLflow's search is on SQLite."""

    key: str
    value: str | None = None
    prefix: bool = False


@dataclass(frozen=True)
class RunRow:
    """What the table of runs shows of one run."""

    run_id: str
    name: str
    status: str
    start_time: int
    tags: dict[str, str]
    metrics: dict[str, float]


def _tag_sql(condition: TagCondition) -> tuple[str, list[object]]:
    sql = "t.key = ?"
    args: list[object] = [condition.key]
    if condition.value is not None and condition.prefix:
        sql += " AND substr(t.value, 1, ?) = ?"
        args += [len(condition.value), condition.value]
    elif condition.value is not None:
        sql += " AND t.value = ?"
        args.append(condition.value)
    return f"({sql})", args


def _current(conn: sqlite3.Connection) -> bool:
    """Whether the store is at a revision the installed MLflow knows as a head."""
    heads = known_revisions()[1]
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return bool(heads) and row is not None and row[0] in heads


def search_runs_sqlite(
    db: Path,
    experiment: str,
    *,
    all_of: Sequence[Sequence[TagCondition]] = (),
    status: str | None = None,
    run_id: str | None = None,
    started_before: int | None = None,
    limit: int,
) -> list[RunRow] | None:
    """The active runs of ``experiment`` in the SQLite store ``db``, newest first.

    Args:
        db: the store's database file.
        experiment: the experiment's name.
        all_of: groups of tag conditions; a run matches when, in every group, at least
            one condition holds.
        status: only runs with this MLflow status.
        run_id: only the run with this id.
        started_before: only runs started before this time (ms since the epoch).
        limit: at most this many runs.

    Returns:
        The runs, or None when the store cannot be read this way (ask MLflow then: it
        raises the right error or knows the newer schema).
    """
    where = ["e.name = ?", "e.lifecycle_stage = 'active'", "r.lifecycle_stage = 'active'"]
    args: list[object] = [experiment]
    for group in all_of:
        parts = [_tag_sql(c) for c in group]
        where.append(
            "EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND ("
            + " OR ".join(sql for sql, _ in parts)
            + "))"
        )
        args += [a for _, part_args in parts for a in part_args]
    for column, value in (("r.status = ?", status), ("r.run_uuid = ?", run_id)):
        if value is not None:
            where.append(column)
            args.append(value)
    if started_before is not None:
        where.append("r.start_time < ?")
        args.append(started_before)
    query = (
        "SELECT r.run_uuid, r.name, r.status, r.start_time FROM runs r"
        " JOIN experiments e ON e.experiment_id = r.experiment_id"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY r.start_time DESC, r.run_uuid LIMIT ?"
    )
    if not db.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            active = conn.execute(
                "SELECT 1 FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                (experiment,),
            ).fetchone()
            if not _current(conn) or active is None:
                return None
            found = conn.execute(query, [*args, limit]).fetchall()
            ids = [row[0] for row in found]
            marks = ",".join("?" * len(ids))
            tags: dict[str, dict[str, str]] = {found_id: {} for found_id in ids}
            for found_id, key, value in conn.execute(
                f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks})", ids
            ):
                tags[found_id][key] = value
            metrics: dict[str, dict[str, float]] = {found_id: {} for found_id in ids}
            for found_id, key, value, is_nan in conn.execute(
                "SELECT run_uuid, key, value, is_nan FROM latest_metrics"
                f" WHERE run_uuid IN ({marks})",
                ids,
            ):
                metrics[found_id][key] = math.nan if is_nan else float(value)
    except sqlite3.Error:
        return None
    return [
        RunRow(found_id, name or "", state, start or 0, tags[found_id], metrics[found_id])
        for found_id, name, state, start in found
    ]


# --- Writing a long metric history into a SQLite store ------------------------------
#
# MLflow's log_batch builds one ORM object per point: the 100,000 steps of a DVCLive
# history take it 8 s of CPU. The same rows, inserted as MLflow's SQLAlchemy store
# inserts them (``SqlAlchemyStore._log_metrics``: one ``metrics`` row per point, an
# exact duplicate ignored; ``latest_metrics``: per key, the point with the greatest
# (step, timestamp, value)), take a fraction of a second. Only on a store at a revision
# the installed MLflow knows as a head, whose two tables have exactly these columns, and
# for a run that is active; otherwise (False) MLflow writes them.
# tests/func/test_metric_history_write.py compares both writes on one store, so an
# upgrade that changes these tables fails there.

_METRIC_COLUMNS = frozenset({"key", "value", "timestamp", "run_uuid", "step", "is_nan"})
# SQL cannot hold an infinity: MLflow stores the largest finite double instead.
_FLOAT_MAX = 1.7976931348623157e308


def _columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    return frozenset(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))


def _stored(value: float) -> tuple[float, int]:
    """(value, is_nan) as MLflow stores a metric value (``sanitize_metric_value``)."""
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (_FLOAT_MAX if value > 0 else -_FLOAT_MAX), 0
    return value, 0


def insert_metric_history(
    db: Path,
    run_id: str,
    points: Sequence[tuple[str, float, int, int]],
    *,
    timeout: float,
) -> bool:
    """Write ``points`` (key, value, timestamp in ms, step) of the run ``run_id`` into
    the SQLite store ``db`` in one transaction, as MLflow's ``log_batch`` would.

    The keys must be names MLflow accepts (``tracking.writer`` maps them first).
    ``timeout``: seconds to wait for a store another process holds locked.

    Returns:
        False when nothing was written: the store, the run or a value is not one this
        write knows (MLflow's ``log_batch`` then writes them, or says what is wrong).
    """
    if not all(
        isinstance(value, (int, float)) and not isinstance(value, bool)
        and isinstance(stamp, int) and isinstance(step, int)
        for _, value, stamp, step in points
    ):  # fmt: skip
        return False
    rows = [(key, *_stored(float(value)), stamp, step) for key, value, stamp, step in points]
    latest: dict[str, tuple[int, int, float, int]] = {}  # key -> (step, stamp, value, nan)
    for key, value, is_nan, stamp, step in rows:
        best = latest.get(key)
        if best is None or (step, stamp, value) > best[:3]:
            latest[key] = (step, stamp, value, is_nan)
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=timeout)) as conn:
            conn.isolation_level = None  # transactions spelled out below
            if not _current(conn) or not all(
                _columns(conn, table) == _METRIC_COLUMNS for table in ("metrics", "latest_metrics")
            ):
                return False
            conn.execute("BEGIN IMMEDIATE")
            try:
                stage = conn.execute(
                    "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)
                ).fetchone()
                if stage is None or stage[0] != "active":
                    conn.execute("ROLLBACK")
                    return False
                conn.executemany(
                    "INSERT OR IGNORE INTO metrics"
                    " (key, value, is_nan, timestamp, step, run_uuid) VALUES (?, ?, ?, ?, ?, ?)",
                    [(*row, run_id) for row in rows],
                )
                for key, (step, stamp, value, is_nan) in latest.items():
                    old = conn.execute(
                        "SELECT step, timestamp, value FROM latest_metrics"
                        " WHERE run_uuid = ? AND key = ?",
                        (run_id, key),
                    ).fetchone()
                    if old is not None and old[1] is None:  # MLflow could not compare it
                        conn.execute("ROLLBACK")
                        return False
                    if old is None or (step, stamp, value) > tuple(old):
                        conn.execute(
                            "INSERT OR REPLACE INTO latest_metrics"
                            " (key, value, timestamp, step, is_nan, run_uuid)"
                            " VALUES (?, ?, ?, ?, ?, ?)",
                            (key, value, stamp, step, is_nan, run_id),
                        )
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
    except sqlite3.Error:
        return False
    return True

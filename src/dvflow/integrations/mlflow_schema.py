"""The database schema revision the installed MLflow expects, read without importing
mlflow (seconds): from the revision ids of its Alembic migration scripts.

A SQLite store stamped with another revision is refused by MLflow's client (it
raises when opened); dvflow says so before a pipeline runs, with the command that
migrates it.
"""

from __future__ import annotations

import functools
import importlib.util
import re
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

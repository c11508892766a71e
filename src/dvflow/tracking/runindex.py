"""A local index of the runs ``dvflow repro`` recorded, by working-tree fingerprint.

When nothing needs to run, ``dvflow repro`` names the latest run that recorded this
exact state. Asking MLflow would cost seconds (importing it, opening the store) for a
command that otherwise takes one; the index answers in a millisecond. It lives in
``.dvflow/tmp/runs.json`` (local to the clone, never committed) and is only a hint:
the run itself is in MLflow.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from dvflow.errors import DvflowWarning
from dvflow.project import STATE_DIR
from dvflow.snapshot.redact import strip_credentials

INDEX_DIR = STATE_DIR
INDEX_FILE = "runs.json"
MAX_ENTRIES = 500


@dataclass(frozen=True)
class IndexedRun:
    """A pointer to a recorded parent run."""

    run_id: str
    experiment: str
    tracking_uri: str
    recorded_at: float


def _path(home: Path) -> Path:
    return home / INDEX_DIR / INDEX_FILE


def _load(home: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _key(tracking_uri: str, fingerprint: str) -> str:
    return f"{strip_credentials(tracking_uri)} {fingerprint}"


def lookup(home: Path, fingerprint: str, tracking_uri: str) -> IndexedRun | None:
    """The latest run recorded for ``fingerprint`` in the store ``tracking_uri``."""
    entry = _load(home).get(_key(tracking_uri, fingerprint))
    if not isinstance(entry, dict):
        return None
    try:
        return IndexedRun(**entry)  # type: ignore[arg-type]
    except TypeError:
        return None


def remember(home: Path, fingerprint: str, run: IndexedRun) -> None:
    """Record ``run`` for ``fingerprint``; written atomically, oldest entries dropped."""
    entries = _load(home)
    entries[_key(run.tracking_uri, fingerprint)] = {
        **asdict(run),
        "tracking_uri": strip_credentials(run.tracking_uri),
    }
    if len(entries) > MAX_ENTRIES:
        newest = sorted(entries.items(), key=lambda kv: float(kv[1].get("recorded_at", 0)))  # type: ignore[arg-type]
        entries = dict(newest[-MAX_ENTRIES:])
    path = _path(home)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".runs-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entries, handle, indent=1)
            Path(tmp).replace(path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:  # only a hint for later no-op runs: the run is in MLflow
        warnings.warn(f"could not update {path}: {exc}", DvflowWarning, stacklevel=2)

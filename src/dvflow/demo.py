"""``dvflow demo``: the whole loop on an example project, in one command.

Creates the example project (``dvflow init``), runs its pipeline with ``dvflow repro``,
commits, changes one parameter, runs and commits again, then compares the two
pipeline runs side by side. Everything goes to the project's embedded SQLite store.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvflow.compare import Comparison
from dvflow.pipeline import ReproOptions, ReproResult, reproduce
from dvflow.scaffold import create_project

# The parameter the demo changes between its two runs, and its new value.
CHANGED_SECTION, CHANGED_KEY, NEW_VALUE = "train", "max_depth", 2


@dataclass
class DemoResult:
    """The demo project, its two pipeline runs and their comparison."""

    path: Path
    first: ReproResult
    second: ReproResult
    comparison: Comparison

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "path": str(self.path),
            "runs": [self.first.parent_run_id, self.second.parent_run_id],
            "tracking_uri": self.second.tracking_uri,
            "comparison": self.comparison.to_dict(),
        }


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    # DVC resolves its default target (dvc.yaml) against the current folder.
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def _commit(root: Path, message: str) -> None:
    """Commit the demo's own project, with a fallback identity for that commit only."""
    identity: list[str] = []
    for key, fallback in (("user.name", "dvflow demo"), ("user.email", "demo@localhost")):
        found = subprocess.run(
            ["git", "config", key], cwd=root, capture_output=True, text=True, check=False
        )
        if not found.stdout.strip():
            identity += ["-c", f"{key}={fallback}"]
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, capture_output=True)
    subprocess.run(
        ["git", *identity, "commit", "-q", "-m", message], cwd=root, check=True, capture_output=True
    )


def _change_param(root: Path) -> str:
    """Set the demo's parameter with DVC's own YAML editor (comments are kept)."""
    from dvc.utils.serialize import modify_yaml

    with modify_yaml(root / "params.yaml") as params:
        old = params[CHANGED_SECTION][CHANGED_KEY]
        params[CHANGED_SECTION][CHANGED_KEY] = NEW_VALUE
    return f"{CHANGED_SECTION}.{CHANGED_KEY}: {old} -> {NEW_VALUE}"


def run_demo(path: Path, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Create the example project at ``path`` and run the loop twice.

    Raises:
        ProjectInputError: ``path`` exists and is not empty.
    """
    from mlflow import MlflowClient

    from dvflow.compare import compare_runs

    say = progress or (lambda _line: None)
    report = create_project(path, progress=say)
    root = report.path
    with _inside(root):
        say("dvflow repro (first run)")
        first = reproduce(ReproOptions())
        _commit(root, "Run the pipeline (dvflow demo)")
        change = _change_param(root)
        say(f"changing {change}; dvflow repro (second run)")
        second = reproduce(ReproOptions())
        _commit(root, f"Change {change} (dvflow demo)")
    assert first.parent_run_id and second.parent_run_id
    client = MlflowClient(second.tracking_uri)
    comparison = compare_runs(client, [first.parent_run_id, second.parent_run_id])
    comparison.names = ["first run", "second run"]
    return DemoResult(root, first, second, comparison)

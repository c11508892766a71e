"""``dvflow demo``: the whole loop on an example project, in one command.

Creates the example project (``dvflow init``), runs its pipeline with ``dvflow repro``,
commits, changes one parameter, runs and commits again, then compares the two
pipeline runs side by side. Everything goes to the project's embedded SQLite store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvflow.apps.scaffold import commit_everything, create_project
from dvflow.errors import DvflowError
from dvflow.project import find_project, working_directory
from dvflow.repro.pipeline import ReproOptions, ReproResult, reproduce
from dvflow.tracking.compare import Comparison
from dvflow.workspace import resolve_target

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

    from dvflow.tracking.compare import compare_runs

    say = progress or (lambda _line: None)
    report = create_project(path, progress=say)
    root = report.path
    # DVC resolves its default target (dvc.yaml) against the current folder.
    with working_directory(root):
        say("dvflow repro (first run)")
        first = reproduce(ReproOptions())
        commit_everything(root, "Run the pipeline (dvflow demo)")
        change = _change_param(root)
        say(f"changing {change}; dvflow repro (second run)")
        second = reproduce(ReproOptions())
        commit_everything(root, f"Change {change} (dvflow demo)")
    if not (first.parent_run_id and second.parent_run_id):
        raise DvflowError(
            f"the demo's runs were not recorded ({second.tracking_error or first.tracking_error});"
            " check the tracking store and run 'dvflow demo' again in a new folder."
        )
    client = MlflowClient(resolve_target(find_project(root)).tracking_uri)
    comparison = compare_runs(client, [first.parent_run_id, second.parent_run_id])
    comparison.names = ["first run", "second run"]
    return DemoResult(root, first, second, comparison)

"""``dvflow demo``: the whole loop on an example project, in one command.

Creates the example project (``dvflow init``), runs its pipeline with ``dvflow repro``,
commits, changes one parameter, runs and commits again, then compares the two
pipeline runs side by side. Everything goes to the project's embedded SQLite store.

Run again where a previous demo is, it leaves that one as it is and runs in a fresh
sibling folder (``demo-2``, ``demo-3``...): it never deletes or changes a folder it
did not just create.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvflow.apps.scaffold import FIRST_COMMIT_MESSAGE, commit_everything, create_project
from dvflow.errors import DvflowError, ProjectInputError
from dvflow.project import working_directory
from dvflow.repro.pipeline import ReproOptions, ReproResult, reproduce
from dvflow.tracking.compare import Comparison
from dvflow.workspace import Workspace

# The parameter the demo changes between its two runs, and its new value.
CHANGED_SECTION, CHANGED_KEY, NEW_VALUE = "train", "max_depth", 2
# Every commit of a demo ends with this: how a later demo recognises the folder.
DEMO_MARK = "(dvflow demo)"


@dataclass
class DemoResult:
    """The demo project, its two pipeline runs and their comparison.

    Attributes:
        path: the demo project.
        first: the first ``dvflow repro``.
        second: the second one, after the parameter changed.
        comparison: the two pipeline runs side by side.
        previous: the previous demo that was in the folder asked for, left as it was
            (None when the demo ran in the folder asked for).
    """

    path: Path
    first: ReproResult
    second: ReproResult
    comparison: Comparison
    previous: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "path": str(self.path),
            "previous_demo": str(self.previous) if self.previous else None,
            "runs": [self.first.parent_run_id, self.second.parent_run_id],
            "tracking_uri": self.second.tracking_uri,
            "comparison": self.comparison.to_dict(),
        }


def is_previous_demo(folder: Path) -> bool:
    """Whether ``folder`` is the repository of a demo: one of its commits is marked."""
    import subprocess

    if not (folder / ".git").exists():
        return False
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=folder, capture_output=True, text=True, check=False
    )
    return log.returncode == 0 and any(
        subject.endswith(DEMO_MARK) for subject in log.stdout.splitlines()
    )


def choose_folder(path: Path) -> tuple[Path, Path | None]:
    """Where the demo runs: ``path``, or its first free sibling if ``path`` is a previous
    demo. Returns (folder, previous demo or None).

    Raises:
        ProjectInputError: ``path`` holds something other than a demo.
    """
    path = Path(path).expanduser().resolve()
    if _free(path):
        return path, None
    number = 2
    while not _free(sibling := path.with_name(f"{path.name}-{number}")):
        number += 1
    if not is_previous_demo(path):
        raise ProjectInputError(
            f"{path} exists and is not a dvflow demo: name a new folder, "
            f"e.g. 'dvflow demo {shlex.quote(sibling.name)}'."
        )
    return sibling, path


def _free(folder: Path) -> bool:
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


@contextmanager
def _quiet_tools() -> Iterator[None]:
    """Hide what is noise in a demo: MLflow creating its tables (here and in the stage
    and recorder processes), and DVC's advice to ``git add`` files the demo commits."""
    import mlflow  # noqa: F401  (first: importing it sets its loggers' levels)
    from dvc.repo import scm_context
    from mlflow.environment_variables import MLFLOW_LOGGING_LEVEL

    loggers = [logging.getLogger("mlflow"), logging.getLogger("alembic"), scm_context.logger]
    levels = [logger.level for logger in loggers]
    variable = MLFLOW_LOGGING_LEVEL.name
    before = os.environ.get(variable)
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        if before is None:  # the user's own choice wins
            os.environ[variable] = "WARNING"
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if before is None:
            os.environ.pop(variable, None)


def _change_param(root: Path) -> str:
    """Set the demo's parameter with DVC's own YAML editor (comments are kept)."""
    from dvflow.integrations.dvc_internals import edit_yaml

    with edit_yaml(root / "params.yaml") as params:
        old = params[CHANGED_SECTION][CHANGED_KEY]
        params[CHANGED_SECTION][CHANGED_KEY] = NEW_VALUE
    return f"{CHANGED_SECTION}.{CHANGED_KEY}: {old} -> {NEW_VALUE}"


def run_demo(path: Path, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Create the example project at ``path`` and run the loop twice.

    If ``path`` is a previous demo, it is left as it is and the demo runs in the first
    free sibling folder (``path-2``, ``path-3``...).

    Raises:
        ProjectInputError: ``path`` exists and is neither empty nor a previous demo.
    """
    from mlflow import MlflowClient

    from dvflow.tracking.compare import compare_runs

    say = progress or (lambda _line: None)
    folder, previous = choose_folder(path)
    if previous is not None:
        say(f"{previous} is a previous demo, left as it is; this one runs in {folder}")
    with ExitStack() as stack:
        stack.enter_context(_quiet_tools())
        report = create_project(folder, progress=say, message=f"{FIRST_COMMIT_MESSAGE} {DEMO_MARK}")
        root = report.path
        # DVC resolves its default target (dvc.yaml) against the current folder.
        stack.enter_context(working_directory(root))
        say("dvflow repro (first run)")
        first = reproduce(ReproOptions())
        commit_everything(root, f"Run the pipeline {DEMO_MARK}")
        change = _change_param(root)
        say(f"changing {change}; dvflow repro (second run)")
        second = reproduce(ReproOptions())
        commit_everything(root, f"Change {change} {DEMO_MARK}")
    if not (first.parent_run_id and second.parent_run_id):
        raise DvflowError(
            f"the demo's runs were not recorded ({second.tracking_error or first.tracking_error});"
            " check the tracking store and run 'dvflow demo' again."
        )
    client = MlflowClient(Workspace.find(root).tracking_uri)
    comparison = compare_runs(client, [first.parent_run_id, second.parent_run_id])
    comparison.names = ["first run", "second run"]
    return DemoResult(root, first, second, comparison, previous)

"""The run context provider: dvflow's tags on any ``mlflow.start_run()`` in a DVC project.

MLflow calls ``in_context()`` for every run any script in the environment starts, so
outside a DVC project it answers from the environment and a few ``stat`` calls (no
subprocess, no import). Inside one, ``tags()`` reads the code state with git (commit,
branch, dirty state, fingerprint) and DVC's stage variables. Under ``dvflow repro`` the
recorder writes the code tags itself, after the stage: only DVC's context is added.

``DVFLOW_RUN_CONTEXT=off`` disables it; ``DVFLOW_RUN_CONTEXT=dvc`` also imports DVC to tag
the stage's data versions (``dvc.dep.*``, ``dvc.out.*``) and to read the outputs DVC
rewrites while the pipeline runs as committed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dvflow import env
from dvflow.recorder.rendezvous import join_stage_run

_logger = logging.getLogger(__name__)

# MLflow imports this module as it is imported itself: under `dvflow repro`, the stage's
# run becomes MLFLOW_RUN_ID here, before any start_run() reads it.
join_stage_run()
# DVC rewrites it after every stage of a pipeline: a later stage must not see it dirty.
_LOCK_FILE = "dvc.lock"


def _dvc_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def _mode() -> str:
    return os.environ.get(env.DVFLOW_RUN_CONTEXT, "").strip().lower()


def dvc_context_tags() -> dict[str, str]:
    """The tags DVC's own stage variables give: stage address, experiment, baseline."""
    from dvflow.tracking import schema

    found = {}
    for variable, tag in (
        (env.DVC_STAGE, schema.DVC_STAGE),
        (env.DVC_EXP_NAME, schema.DVC_EXP_NAME),
        (env.DVC_EXP_BASELINE_REV, schema.DVC_EXP_BASELINE),
    ):
        value = os.environ.get(variable)
        if value:
            found[tag] = value
    return found


def _code_and_data_tags(root: Path) -> dict[str, str]:
    from dvflow.project import find_project
    from dvflow.snapshot.code import read_code_version
    from dvflow.tracking.writer import code_tags

    project = find_project(root)
    if project.git_root is None:
        return {}
    keep = [str(project.root / _LOCK_FILE)]
    found: dict[str, str] = {}
    if _mode() == env.RUN_CONTEXT_DVC:
        found, written = _dvc_tags(project.root, project.git_root)
        keep += written
    code, _ = read_code_version(project.git_root, keep=keep)
    return {**code_tags(code), **found}


def _dvc_tags(root: Path, git_root: Path) -> tuple[dict[str, str], list[str]]:
    """Data-version tags of the running stage and the paths DVC rewrites (imports DVC)."""
    from dvc.repo import Repo

    from dvflow.project import working_directory
    from dvflow.snapshot import find_stage
    from dvflow.snapshot.data import pipeline_written_paths, running_stage_versions
    from dvflow.tracking.writer import data_tags

    # Stage addresses are relative to the project root, as DVC_STAGE names them.
    with working_directory(root), Repo(str(root)) as repo:
        written = [str(p) for p in pipeline_written_paths(repo, git_root)]
        stage = os.environ.get(env.DVC_STAGE)
        if not stage:
            return {}, written
        versions = running_stage_versions(repo, find_stage(repo, stage))
        return data_tags(versions), written


class DvflowRunContext:
    """MLflow's ``RunContextProvider`` protocol (``in_context``, ``tags``) for DVC projects.

    Registered as the ``dvflow`` entry point of ``mlflow.run_context_provider``.
    Neither method ever raises: a failure logs one line and adds no tag.
    """

    def __init__(self) -> None:
        self._root: Path | None = None

    def in_context(self) -> bool:
        """Whether the run starts inside a DVC stage or a DVC project."""
        try:
            if _mode() == env.RUN_CONTEXT_OFF:
                return False
            root = os.environ.get(env.DVC_ROOT)
            self._root = _dvc_root(Path(root) if root else Path.cwd())
            return self._root is not None or bool(os.environ.get(env.DVC_STAGE))
        except Exception:  # never break the user's mlflow.start_run()
            return False

    def tags(self) -> dict[str, str]:
        """dvflow's code tags (commit, branch, dirty, fingerprint) and DVC's context."""
        try:
            found = dvc_context_tags()
            # Under `dvflow repro` the recorder writes the code tags after the stage.
            if self._root is not None and not os.environ.get(env.DVFLOW_INVOCATION):
                found = {**_code_and_data_tags(self._root), **found}
            return found
        except Exception as exc:  # never break the user's mlflow.start_run()
            _logger.warning("dvflow: no dvflow tags for this run: %s", exc)
            return {}

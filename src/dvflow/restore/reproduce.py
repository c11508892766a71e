"""``dvflow reproduce``: make a run again from its exact code and data, and compare.

The run's code is restored into a temporary worktree (verified against its
fingerprint), its input data checked out (or pulled), and the pipeline run from scratch
(``dvflow repro --force``) into the same store and experiment. Each output's DVC hash
and each metric are then compared with the original run's; the new run is tagged
``dvflow.reproduces=<original run id>`` and ``dvflow.reproduced=true|false``. The
temporary worktree is removed afterwards, whatever happened.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dvflow import env
from dvflow.errors import RestoreError
from dvflow.project import git_toplevel, working_directory
from dvflow.restore.checkout import restore_code
from dvflow.restore.datastate import checkout_data, missing_sources, share_cache
from dvflow.restore.lookup import find_run
from dvflow.restore.recorded import read_recorded
from dvflow.restore.worktree import remove_worktree
from dvflow.snapshot.code import read_code_version
from dvflow.tracking import schema as tags
from dvflow.workspace import Workspace

IDENTICAL = "identical"
WITHIN_TOLERANCE = "within tolerance"
DIFFERENT = "different"
MISSING = "missing"


@dataclass(frozen=True)
class Compared:
    """One output hash or metric of the original run next to the reproduction's."""

    name: str
    original: str | float
    reproduced: str | float | None
    verdict: str

    @property
    def ok(self) -> bool:
        """Identical, or a metric within the tolerance."""
        return self.verdict in (IDENTICAL, WITHIN_TOLERANCE)


@dataclass
class Reproduction:
    """What ``reproduce_run`` made and how it compares.

    Attributes:
        original_run_id: the run reproduced.
        run_id: the new pipeline run.
        compared_run_id: the new run compared with the original (the pipeline run, or
            the run of the same stage when the original is a stage run).
        rel_tolerance: the relative tolerance of metrics.
        outputs: each output's DVC hash, original and new.
        metrics: each metric, original and new.
    """

    original_run_id: str
    run_id: str
    compared_run_id: str
    rel_tolerance: float
    outputs: list[Compared] = field(default_factory=list)
    metrics: list[Compared] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        """Every output identical and every metric identical or within tolerance."""
        return all(c.ok for c in (*self.outputs, *self.metrics))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "original_run_id": self.original_run_id,
            "run_id": self.run_id,
            "compared_run_id": self.compared_run_id,
            "rel_tolerance": self.rel_tolerance,
            "reproduced": self.reproduced,
            "outputs": [c.__dict__ for c in self.outputs],
            "metrics": [c.__dict__ for c in self.metrics],
        }


def compare_metric(name: str, original: float, new: float | None, rel: float) -> Compared:
    """Compare two values of a metric with a relative tolerance.

    >>> compare_metric("acc", 0.9, 0.9, 0.0).verdict
    'identical'
    >>> compare_metric("acc", 0.9, 0.91, 0.05).verdict
    'within tolerance'
    >>> compare_metric("acc", 0.9, 0.91, 0.0).verdict
    'different'
    """
    if new is None:
        verdict = MISSING
    elif new == original:
        verdict = IDENTICAL
    elif math.isclose(new, original, rel_tol=rel, abs_tol=0.0) and rel > 0:
        verdict = WITHIN_TOLERANCE
    else:
        verdict = DIFFERENT
    return Compared(name, original, new, verdict)


def compare_outputs(original: dict[str, str], new_tags: dict[str, str]) -> list[Compared]:
    """Each output hash of the original run against the new run's tag."""
    found = []
    for path, hash_value in sorted(original.items()):
        new = new_tags.get(tags.DVC_OUT_PREFIX + path)
        verdict = MISSING if new is None else IDENTICAL if new == hash_value else DIFFERENT
        found.append(Compared(path, hash_value, new, verdict))
    return found


@contextmanager
def _temporary_worktree(top: Path) -> Iterator[Path]:
    """A folder for a worktree named like the project, removed with the worktree after."""
    parent = Path(tempfile.mkdtemp(prefix="dvflow-reproduce-"))
    folder = parent / top.name
    try:
        yield folder
    finally:
        if folder.exists():
            remove_worktree(top, folder)
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def _tracking_to(uri: str) -> Iterator[None]:
    """Send the pipeline's runs to ``uri``: a store configured by a relative path would
    otherwise resolve inside the temporary worktree."""
    saved = os.environ.get(env.MLFLOW_TRACKING_URI)
    os.environ[env.MLFLOW_TRACKING_URI] = uri
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(env.MLFLOW_TRACKING_URI, None)
        else:
            os.environ[env.MLFLOW_TRACKING_URI] = saved


def reproduce_run(workspace: Workspace, ref: str, *, rel_tolerance: float = 0.0) -> Reproduction:
    """Run the pipeline of the run ``ref`` names again from its code and data, compare.

    Args:
        workspace: the project the command runs in, with its store.
        ref: a run id, a unique prefix of one, or a run name.
        rel_tolerance: how far (relative) a metric may be from the original's and still
            count as reproduced; 0 means identical.

    Returns:
        The new run and the comparison; ``reproduced`` is the verdict.

    Raises:
        RunNotFoundError: ``ref`` names no run, or several.
        RestoreError: the run's code or input data cannot be restored exactly.
        PipelineFailedError: a stage failed when run again.
    """
    from dvflow.repro.options import ReproOptions
    from dvflow.repro.pipeline import reproduce

    session = workspace.session()
    client = session.client
    run = find_run(client, [session.experiment_id], ref)
    recorded = read_recorded(client, run)
    if recorded.commit is None:
        raise RestoreError(
            f"run {recorded.run_id} was made in a repository without commits: it cannot "
            "be reproduced. Commit, then record a new run."
        )
    experiment = client.get_experiment(recorded.experiment_id).name
    top = git_toplevel(workspace.project.root) or workspace.project.root
    with _temporary_worktree(top) as folder:
        problems = restore_code(top, recorded, folder, in_place=False)
        code, _ = read_code_version(folder)
        if problems or code.fingerprint != recorded.fingerprint:
            raise RestoreError(
                f"run {recorded.run_id} cannot be reproduced: its code cannot be restored "
                f"exactly ({problems[0] if problems else 'the restored tree differs'}). "
                f"'dvflow checkout {recorded.run_id}' says what is missing."
            )
        project = folder / workspace.project.root.resolve().relative_to(top)
        share_cache(workspace.project.root, project)
        checkout_data(project)  # outputs may be missing: the pipeline makes them again
        missing = missing_sources(project)
        if missing:
            raise RestoreError(
                f"run {recorded.run_id} cannot be reproduced: its input data "
                f"{', '.join(missing[:5])} is in neither the DVC cache nor the remote. "
                "Run 'dvc push' in the clone that made the run."
            )
        options = ReproOptions(force=True, experiment=experiment)
        with _tracking_to(workspace.tracking_uri), working_directory(project):
            result = reproduce(options, start=project)
    assert result.parent_run_id is not None  # --force runs every stage
    compared = result.parent_run_id
    if recorded.stage is not None:
        compared = next(
            (s.run_id for s in result.stages if s.address == recorded.stage and s.run_id),
            compared,
        )
    new = client.get_run(compared)
    outcome = Reproduction(
        original_run_id=recorded.run_id,
        run_id=result.parent_run_id,
        compared_run_id=compared,
        rel_tolerance=rel_tolerance,
        outputs=compare_outputs(recorded.outputs, new.data.tags),
        metrics=[
            compare_metric(name, value, new.data.metrics.get(name), rel_tolerance)
            for name, value in sorted(recorded.metrics.items())
        ],
    )
    for run_id in {result.parent_run_id, compared}:
        client.set_tag(run_id, tags.REPRODUCES, recorded.run_id)
        client.set_tag(run_id, tags.REPRODUCED, "true" if outcome.reproduced else "false")
    return outcome

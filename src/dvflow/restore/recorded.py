"""What a recorded run says about the state that made it, read back from MLflow.

The code is ``mlflow.source.git.commit`` plus, for a dirty run, the ``dvflow/git.diff``
artifact; the data is every ``dvc.out.<path>``/``dvc.dep.<path>`` tag; the outputs the
run wrote are in the ``dvc.lock`` files it left (``dvflow/**/dvc.lock``). Stage runs
carry no artifacts of their own: those of their pipeline run are used.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.errors import RestoreError
from dvflow.tracking import schema as tags

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

LOCK_FILE = "dvc.lock"


@dataclass(frozen=True)
class LeftOut:
    """A changed file of a dirty run that its ``git.diff`` does not hold."""

    path: str
    size: int
    blob: str | None  # None for credential files
    reason: str


@dataclass
class RecordedRun:
    """The code and data a run recorded.

    Attributes:
        run_id: the run.
        experiment_id: its experiment.
        commit: the commit it was made from (None: no commit was recorded).
        fingerprint: the tree id of the state that made it.
        result_fingerprint: the tree id of the state it left (``dvflow repro`` runs).
        dirty: whether it was made from uncommitted changes.
        data: ``path -> DVC hash`` of every dependency and output it recorded.
        outputs: ``path -> DVC hash`` of its outputs alone.
        metrics: the metrics it logged (last values).
        stage: the stage address of a stage run, else None.
        patch: the ``git.diff`` text, None when the run was clean or it is missing.
        left_out: files the patch leaves out (its ``#`` header lines).
        locks: ``path -> text`` of the ``dvc.lock`` files the run left.
    """

    run_id: str
    experiment_id: str
    commit: str | None
    fingerprint: str | None
    result_fingerprint: str | None
    dirty: bool
    data: dict[str, str]
    outputs: dict[str, str]
    metrics: dict[str, float]
    stage: str | None = None
    patch: str | None = None
    left_out: list[LeftOut] = field(default_factory=list)
    locks: dict[str, str] = field(default_factory=dict)


def parse_left_out(patch: str) -> list[LeftOut]:
    """The files listed in the ``#`` header of a ``git.diff`` as not in the patch.

    >>> parse_left_out('# dvflow: 1 changed file(s)...\\n#   "m.bin" 12 ab12 binary\\ndiff --git')
    [LeftOut(path='m.bin', size=12, blob='ab12', reason='binary')]
    """
    found = []
    for line in patch.splitlines():
        if line.startswith("diff --git"):
            break
        if not line.startswith("#   "):
            continue
        # `"path" size blob reason words`: the path is JSON, the reason may have spaces.
        path, end = json.JSONDecoder().raw_decode(line[4:])
        size, blob, reason = line[4 + end :].split(maxsplit=2)
        found.append(LeftOut(path, int(size), None if blob == "-" else blob, reason))
    return found


def _artifacts(client: MlflowClient, run_id: str, folder: str) -> list[str]:
    """Every file path under ``folder`` among the run's artifacts."""
    files = []
    for item in client.list_artifacts(run_id, folder):
        if item.is_dir:
            files += _artifacts(client, run_id, item.path)
        else:
            files.append(item.path)
    return files


def _download(client: MlflowClient, run_id: str, path: str) -> str:
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR as BAR

    # A progress bar per small file is noise on the command's output.
    saved = os.environ.get(BAR.name)
    os.environ[BAR.name] = "false"
    try:
        with tempfile.TemporaryDirectory(prefix="dvflow-artifact-") as folder:
            local = client.download_artifacts(run_id, path, folder)
            return Path(local).read_text()
    finally:
        if saved is None:
            os.environ.pop(BAR.name, None)
        else:
            os.environ[BAR.name] = saved


def read_recorded(client: MlflowClient, run: Run) -> RecordedRun:
    """Read back what ``run`` recorded about its code and data.

    Raises:
        RestoreError: the run records no code state (it was not made by dvflow), or the
            patch of a dirty run is missing from its artifacts.
    """
    run_tags = run.data.tags
    run_id = run.info.run_id
    if tags.FINGERPRINT not in run_tags:
        raise RestoreError(
            f"run {run_id} records no code state ({tags.FINGERPRINT} is not set): it was "
            "not made by dvflow, so it cannot be restored. Pick a run of 'dvflow repro'."
        )
    recorded = RecordedRun(
        run_id=run_id,
        experiment_id=run.info.experiment_id,
        commit=run_tags.get(tags.GIT_COMMIT),
        fingerprint=run_tags.get(tags.FINGERPRINT),
        result_fingerprint=run_tags.get(tags.RESULT_FINGERPRINT),
        dirty=run_tags.get(tags.GIT_DIRTY) == "true",
        data={
            name.split(".", 2)[2]: value
            for name, value in run_tags.items()
            if name.startswith((tags.DVC_OUT_PREFIX, tags.DVC_DEP_PREFIX))
        },
        outputs={
            name[len(tags.DVC_OUT_PREFIX) :]: value
            for name, value in run_tags.items()
            if name.startswith(tags.DVC_OUT_PREFIX)
        },
        metrics=dict(run.data.metrics),
        stage=run_tags.get(tags.DVC_STAGE) if run_tags.get(tags.KIND) == tags.KIND_STAGE else None,
    )
    bound = run_tags.get(tags.BOUND_COMMIT)
    if bound and recorded.result_fingerprint:
        # `dvflow commit` recorded exactly the state the run left: that commit holds its
        # code and the dvc.lock of its outputs, no patch needed (the original commit tag
        # stays on the run as history).
        recorded.commit, recorded.fingerprint = bound, recorded.result_fingerprint
        recorded.dirty = False
        return recorded
    # The pipeline run holds the artifacts; a stage run points at it.
    holder = run_tags.get(tags.PARENT_RUN_ID, run_id) if recorded.stage else run_id
    files = _artifacts(client, holder, tags.ARTIFACT_DIR)
    prefix = f"{tags.ARTIFACT_DIR}/"
    diff = f"{prefix}{tags.DIFF_ARTIFACT}"
    if recorded.dirty:
        if diff not in files:
            raise RestoreError(
                f"run {run_id} was made from uncommitted changes, but its {diff} artifact "
                f"is missing: its code cannot be restored. Check the run's artifacts "
                f"(mlflow artifacts list --run-id {shlex.quote(holder)})."
            )
        recorded.patch = _download(client, holder, diff)
        recorded.left_out = parse_left_out(recorded.patch)
    for path in files:
        if path == f"{prefix}{LOCK_FILE}" or path.endswith(f"/{LOCK_FILE}"):
            recorded.locks[path[len(prefix) :]] = _download(client, holder, path)
    return recorded

"""One run's whole lineage (``dvflow show``): code, params, data, metrics, artifacts,
stage runs, and whether the state that made it can be restored here and now.

Restorable means: the commit is in this repository (``git cat-file -e``), every data
version is in DVC's cache or its default remote (DVC's own cache and cloud status, no
data re-hashed), and, for a run made from a dirty tree, its ``git.diff`` left no file
out.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.restore.listing import RunSummary, summarize
from dvflow.restore.lookup import find_run, open_experiment
from dvflow.tracking import schema as tags
from dvflow.tracking.compare import COMMIT_KEY, split_code_and_data

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from dvflow.workspace import Workspace

DIFF_PATH = f"{tags.ARTIFACT_DIR}/{tags.DIFF_ARTIFACT}"
ENVIRONMENT_PATH = f"{tags.ARTIFACT_DIR}/{tags.ENVIRONMENT_ARTIFACT}"
_MAX_ARTIFACTS = 200


@dataclass(frozen=True)
class DataVersion:
    """A data path the run used or produced, and where its version can be had."""

    path: str
    role: str  # "dep" or "out"
    hash: str
    where: str  # "cache", "remote", "missing" or "unknown"


@dataclass
class Restorability:
    """Whether the state that made the run can be rebuilt here, and what is missing."""

    commit_present: bool | None
    missing_data: list[str] = field(default_factory=list)
    unknown_data: list[str] = field(default_factory=list)
    patch_complete: bool | None = None  # None: the run was made from a clean tree
    omitted_files: list[str] = field(default_factory=list)

    @property
    def restorable(self) -> bool:
        """Every part is here: commit, data, and the patch of a dirty tree."""
        return (
            bool(self.commit_present)
            and not self.missing_data
            and not self.unknown_data
            and self.patch_complete is not False
        )


@dataclass
class Lineage:
    """What ``dvflow show`` prints."""

    run: RunSummary
    code: dict[str, Any]
    code_files: dict[str, str]
    params: dict[str, str]
    data: list[DataVersion]
    metrics: dict[str, float]
    artifacts: list[str]
    stages: list[RunSummary]
    restore: Restorability

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        out = asdict(self)
        out["restore"]["restorable"] = self.restore.restorable
        return out


def omitted_files(patch: str) -> list[str]:
    """The files a ``git.diff`` names as left out, from its comment header.

    >>> omitted_files('# dvflow: 1 changed file(s)...\\n#   "a b.bin" 12 ab12 binary\\ndiff --git')
    ['a b.bin']
    """
    paths: list[str] = []
    for line in patch.splitlines():
        if line.startswith("diff --git"):
            break
        if line.startswith("#   "):
            encoded = line[4:]
            try:
                path, _ = json.JSONDecoder().raw_decode(encoded)
            except ValueError:
                path = encoded.split(" ", 1)[0]
            paths.append(str(path))
    return paths


def read_artifact_text(client: MlflowClient, run_id: str, path: str) -> str | None:
    """The text of one artifact of a run, or None when the run has none there."""
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
    from mlflow.exceptions import MlflowException

    folder, _, name = path.rpartition("/")
    # A progress bar for one small file is noise in a read command's output.
    variable = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    before = os.environ.get(variable)
    os.environ[variable] = "false"
    try:
        if name not in {Path(a.path).name for a in client.list_artifacts(run_id, folder)}:
            return None
        with tempfile.TemporaryDirectory(prefix="dvflow-artifact-") as tmp:
            local = client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text(encoding="utf-8", errors="replace")
    except (MlflowException, OSError):
        return None
    finally:
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before


def commit_present(git_root: Path | None, commit: str | None) -> bool | None:
    """Whether ``commit`` is in the repository (None: no commit recorded, or no git)."""
    if git_root is None or not commit:
        return None
    result = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"],
        cwd=git_root,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def data_locations(root: Path, hashes: set[str]) -> dict[str, str]:
    """Where each DVC hash is: ``cache``, ``remote`` (the default remote), ``missing``,
    or ``unknown`` (the remote could not be asked). Asks DVC, re-hashes nothing."""
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    where: dict[str, str] = {}
    with Repo(str(root)) as repo:
        caches = [repo.cache.local, repo.cache.legacy]
        for value in hashes:
            cached = any(cache.exists(value) for cache in caches)
            where[value] = "cache" if cached else "missing"
        missing = [v for v, w in where.items() if w == "missing"]
        if missing and repo.config["core"].get("remote"):
            try:
                status = repo.cloud.status([HashInfo("md5", v) for v in missing])
                in_remote = {h.value for h in (*status.ok, *status.deleted)}
            except Exception:
                for v in missing:
                    where[v] = "unknown"
            else:
                for v in missing:
                    where[v] = "remote" if v in in_remote else "missing"
    return where


def stage_runs(client: MlflowClient, run: Run) -> list[RunSummary]:
    """The stage runs of a pipeline run, in the order they started (DVC's order)."""
    found = client.search_runs(
        [run.info.experiment_id],
        f"tags.`{tags.PARENT_RUN_ID}` = '{run.info.run_id}'",
        max_results=1000,
        order_by=["attributes.start_time ASC"],
    )
    return [summarize(child) for child in found]


def _artifacts(client: MlflowClient, run_id: str) -> list[str]:
    found: list[str] = []
    pending: list[str | None] = [None]
    while pending and len(found) < _MAX_ARTIFACTS:
        for item in client.list_artifacts(run_id, pending.pop(0)):
            if item.is_dir:
                pending.append(item.path)
            else:
                found.append(item.path)
    return sorted(found)


def _data_versions(run: Run) -> tuple[dict[str, str], list[DataVersion]]:
    run_tags = dict(run.data.tags)
    tracked = {
        i.dataset.name
        for i in (run.inputs.dataset_inputs if run.inputs else [])
        if i.dataset.source_type == "dvc"
    }
    [code], [data] = split_code_and_data([run_tags], tracked or None)
    code.pop(COMMIT_KEY, None)
    versions = [
        DataVersion(path, role, run_tags[prefix + path], "unknown")
        for role, prefix in (("dep", tags.DVC_DEP_PREFIX), ("out", tags.DVC_OUT_PREFIX))
        for path in sorted(data)
        if prefix + path in run_tags
    ]
    return code, versions


def run_lineage(workspace: Workspace, ref: str, *, check_data: bool = True) -> Lineage:
    """The lineage of the run ``ref`` names (id, unique prefix, or name).

    Args:
        workspace: the project and where its runs are.
        ref: the run.
        check_data: ask DVC whether each data version is in the cache or the remote.

    Raises:
        RunNotFoundError: no run, or several, match ``ref``.
    """
    client, experiment_ids = open_experiment(workspace)
    run = find_run(client, experiment_ids, ref)
    run_tags = dict(run.data.tags)
    code_files, versions = _data_versions(run)
    dirty = run_tags.get(tags.GIT_DIRTY) == "true"
    code = {
        "commit": run_tags.get(tags.GIT_COMMIT),
        "branch": run_tags.get(tags.GIT_BRANCH),
        "repo_url": run_tags.get(tags.GIT_REPO_URL),
        "dirty": dirty,
        "fingerprint": run_tags.get(tags.FINGERPRINT),
        "result_fingerprint": run_tags.get(tags.RESULT_FINGERPRINT),
        "result_dirty": run_tags.get(tags.RESULT_DIRTY) == "true"
        if tags.RESULT_DIRTY in run_tags
        else None,
    }
    restore = Restorability(
        commit_present(workspace.project.git_root, run_tags.get(tags.GIT_COMMIT))
    )
    if check_data and versions and workspace.project.has_dvc:
        where = data_locations(workspace.project.root, {v.hash for v in versions})
        versions = [DataVersion(v.path, v.role, v.hash, where[v.hash]) for v in versions]
        restore.missing_data = sorted({v.path for v in versions if v.where == "missing"})
        restore.unknown_data = sorted({v.path for v in versions if v.where == "unknown"})
    if dirty:
        # The patch is kept once, on the run of the invocation that read the tree.
        holder = run_tags.get(tags.PARENT_RUN_ID, run.info.run_id)
        patch = read_artifact_text(client, run.info.run_id, DIFF_PATH)
        if patch is None and holder != run.info.run_id:
            patch = read_artifact_text(client, holder, DIFF_PATH)
        restore.omitted_files = omitted_files(patch) if patch is not None else []
        restore.patch_complete = patch is not None and not restore.omitted_files
    return Lineage(
        run=summarize(run),
        code=code,
        code_files=code_files,
        params=dict(run.data.params),
        data=versions,
        metrics=dict(run.data.metrics),
        artifacts=_artifacts(client, run.info.run_id),
        stages=stage_runs(client, run) if run_tags.get(tags.KIND) == tags.KIND_PIPELINE else [],
        restore=restore,
    )

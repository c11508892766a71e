"""The publishing gate: can a teammate rebuild the model's lineage from what is shared?

Three things must hold, each read from what the run recorded and from the shared
places themselves: a commit records exactly the state the run left (clean run, or
``dvflow.git.bound_commit``, or a commit whose tree is ``dvflow.result.fingerprint``);
that commit is on a git remote (``git branch -r --contains``); and the model's and the
run's data are in the DVC remote (DVC's own ``status`` against the cloud).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.errors import DvflowError
from dvflow.snapshot.code import commits_with_tree
from dvflow.snapshot.data import cached_paths
from dvflow.snapshot.gitindex import run_git
from dvflow.tracking import schema as tags

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    from dvflow.registry.source import ModelSource

# Named in a refusal: enough to act on, short enough for one line.
_SHOWN_PATHS = 3


@dataclass(frozen=True)
class Gap:
    """Something a teammate would miss to rebuild the model: what, and the fix."""

    name: str  # uncommitted | unpushed | data-not-in-remote
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what} (fix: {self.fix})"


class UnpublishableError(DvflowError):
    """``dvflow register`` refused a model whose lineage a teammate could not rebuild."""

    exit_code = 10

    def __init__(self, path: str, gaps: list[Gap]) -> None:
        listed = "; ".join(str(gap) for gap in gaps)
        super().__init__(
            f"refused to register {path}: a teammate could not rebuild it: {listed}. "
            "Nothing was registered; --force registers it anyway (recorded as a tag)."
        )
        self.gaps = gaps


def recording_commit(root: Path, run_tags: dict[str, str]) -> str | None:
    """The commit that records exactly the state the run left, or None.

    A run made from a clean tree that changed nothing git tracks is recorded by the
    commit it was made from; otherwise by the commit ``dvflow commit`` bound to it, or
    any commit whose tree is the state it left.
    """
    bound = run_tags.get(tags.BOUND_COMMIT)
    if bound:
        return bound
    made_dirty = run_tags.get(tags.GIT_DIRTY) == "true"
    left_dirty = run_tags.get(tags.RESULT_DIRTY) == "true"
    if not made_dirty and not left_dirty and run_tags.get(tags.GIT_COMMIT):
        return run_tags[tags.GIT_COMMIT]
    fingerprint = run_tags.get(tags.RESULT_FINGERPRINT)
    if not made_dirty and fingerprint is None:
        return run_tags.get(tags.GIT_COMMIT)  # an in-script run: only the made-from state
    found = commits_with_tree(root, fingerprint) if fingerprint else []
    return found[0] if found else None


def pushed(root: Path, commit: str) -> bool | None:
    """Whether a remote-tracking branch contains ``commit``; None: not in this clone."""
    if run_git(root, ["cat-file", "-e", f"{commit}^{{commit}}"]).returncode != 0:
        return None
    out = run_git(root, ["branch", "-r", "--contains", commit])
    return out.returncode == 0 and bool(out.stdout.strip())


def _hash_infos(repo: Repo, hashes: dict[str, str], hash_name: str) -> dict[HashInfo, str]:
    """``HashInfo -> path`` for each hash, a folder's files included when the local
    cache has its manifest (DVC's status checks the objects it is given)."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    found: dict[HashInfo, str] = {}
    for path, value in hashes.items():
        info = HashInfo(hash_name, value)
        found[info] = path
        if info.isdir:
            try:
                tree = Tree.load(repo.cache.local, info)
            except (FileNotFoundError, OSError, ValueError):
                continue  # the manifest alone is checked; its absence is a gap too
            for _, _, entry in tree:
                if entry is not None:
                    found[entry] = path
    return found


def missing_from_remote(repo: Repo, hashes: dict[str, str], hash_name: str) -> list[str]:
    """The paths (of ``path -> DVC hash``) whose data the DVC remote does not have,
    asked with DVC's own cloud status (as ``dvc status -c``)."""
    infos = _hash_infos(repo, hashes, hash_name)
    status = repo.cloud.status(list(infos))
    absent = {*status.new, *status.missing}
    return sorted({infos[info] for info in absent if info in infos})


def run_data(repo: Repo, run_tags: dict[str, str]) -> dict[str, str]:
    """``path -> hash`` of the data a run recorded that DVC keeps in its cache (not the
    source files, which are code: the commit has them)."""
    cached = cached_paths(repo)
    data = {}
    for name, value in run_tags.items():
        for prefix in (tags.DVC_OUT_PREFIX, tags.DVC_DEP_PREFIX):
            if name.startswith(prefix):
                path = name[len(prefix) :]
                if any(path == c or path.startswith(f"{c}/") for c in cached):
                    data[path] = value
    return data


def lineage_gaps(repo: Repo, run_tags: dict[str, str], model: ModelSource) -> list[Gap]:
    """What a teammate would miss to rebuild ``model`` from the run that made it."""
    root = Path(repo.root_dir)
    gaps = []
    commit = recording_commit(root, run_tags)
    if commit is None:
        gaps.append(
            Gap(
                "uncommitted",
                "the run was made from (or left) changes that no commit records",
                "dvflow commit -m MESSAGE --push",
            )
        )
    else:
        state = pushed(root, commit)
        if state is None:
            gaps.append(
                Gap(
                    "unpushed",
                    f"commit {commit[:12]} is not in this clone",
                    "git fetch, or register from the clone that made the run",
                )
            )
        elif not state:
            gaps.append(Gap("unpushed", f"commit {commit[:12]} is on no git remote", "git push"))
    if model.remote is None:
        gaps.append(
            Gap(
                "data-not-in-remote",
                "the project has no DVC remote",
                "dvc remote add -d store URL; dvc push",
            )
        )
        return gaps
    data = {**run_data(repo, run_tags), model.path: model.hash}
    missing = missing_from_remote(repo, data, model.hash_name)
    if missing:
        shown = ", ".join(missing[:_SHOWN_PATHS])
        more = f" and {len(missing) - _SHOWN_PATHS} more" if len(missing) > _SHOWN_PATHS else ""
        gaps.append(
            Gap(
                "data-not-in-remote",
                f"the DVC remote '{model.remote}' lacks {shown}{more}",
                "dvc push",
            )
        )
    return gaps

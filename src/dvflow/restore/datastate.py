"""The data of a run, put back and checked with DVC's own API.

A new worktree gets its own ``.dvc/config.local`` pointing at the original clone's
cache (``cache.dir``): DVC links files from there instead of copying them, and what the
worktree pulls lands in the shared cache. Data missing from the cache comes from the DVC
remote (``Repo.pull``). Nothing is hashed here: the restored ``dvc.lock``/``.dvc`` files
give DVC's recorded hashes, and ``Repo.status`` says whether the workspace matches them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.errors import RestoreRefusedError, one_line
from dvflow.project import working_directory
from dvflow.snapshot.data import project_versions

if TYPE_CHECKING:
    from dvc.repo import Repo

# What is copied from the original clone's local DVC config: remotes' credentials and
# the default remote a user set for this clone only.
_SHARED_LOCAL_SECTIONS = ("core", "remote")


@dataclass(frozen=True)
class DataCheck:
    """One data path of a run, as restored.

    ``state`` is ``restored`` (the workspace holds the recorded hash), ``missing`` (in
    no cache nor remote), ``differs`` (DVC records another hash than the run) or
    ``in-git`` (kept in git, not in DVC's cache, and not as the run left it).
    """

    path: str
    expected: str
    found: str | None
    state: str

    @property
    def ok(self) -> bool:
        """The workspace holds exactly what the run recorded."""
        return self.state == "restored"


def share_cache(original: Path, project: Path) -> None:
    """Point the DVC project at ``project`` to the cache of the one at ``original``.

    Written with DVC's config API into ``.dvc/config.local`` (git ignores it), with the
    original's local remotes and credentials, so that ``dvc pull`` works as it does there.
    """
    from dvc.repo import Repo

    with Repo(original) as repo:
        cache_dir = repo.cache.local_cache_dir
        local = repo.config.load_one("local")
    with Repo(project) as repo, repo.config.edit("local") as conf:
        for section in _SHARED_LOCAL_SECTIONS:
            if local.get(section):
                conf[section] = {**conf.get(section, {}), **local[section]}
        shared = str(Path(cache_dir).resolve()) if cache_dir else None
        if shared and shared != repo.cache.local_cache_dir:
            conf["cache"]["dir"] = shared


def refuse_unsaved_data(root: Path) -> None:
    """Refuse to switch data under a workspace whose DVC-tracked files hold changes
    that no cache has (``git status`` does not see them: git ignores them)."""
    from dvc.repo import Repo

    with working_directory(root), Repo(root) as repo:
        status = repo.data_status(granular=False)
    uncommitted = status.get("uncommitted", {})
    unsaved = sorted(
        {*uncommitted.get("modified", []), *uncommitted.get("added", [])}
        | {p for p in status.get("not_in_cache", []) if (root / p).exists()}
    )
    if unsaved:
        raise RestoreRefusedError(
            f"--in-place would overwrite DVC-tracked data that is in no cache: "
            f"{', '.join(unsaved[:5])}: nothing was changed. Save it first "
            "(dvc commit, or dvc add), or check out into a new worktree (no --in-place)."
        )


def write_locks(project: Path, locks: dict[str, str]) -> list[str]:
    """Write the ``dvc.lock`` files a run left where they differ; the paths written."""
    written = []
    for path, text in sorted(locks.items()):
        target = project / path
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(path)
    return written


def checkout_data(project: Path) -> str | None:
    """``dvc checkout``; what the cache lacks is pulled from the remote.

    Returns DVC's one-line complaint when some data could be found nowhere (the rest is
    checked out), else None.
    """
    from dvc.exceptions import CheckoutError, DvcException
    from dvc.repo import Repo

    with working_directory(project), Repo(project) as repo:
        try:
            repo.checkout()
            return None
        except CheckoutError:
            pass
        try:
            repo.pull()
            return None
        except DvcException as exc:
            complaint = one_line(exc)
        with contextlib.suppress(DvcException):  # what is missing: verify_data names it
            repo.checkout(allow_missing=True)
        return complaint


def _changed_outputs(repo: Repo) -> dict[str, str]:
    """``path -> how`` of the outputs whose workspace differs from DVC's record."""
    changed: dict[str, str] = {}
    for entries in repo.status().values():
        for entry in entries:
            if isinstance(entry, dict):
                for path, how in entry.get("changed outs", {}).items():
                    changed[Path(os.path.normpath(path)).as_posix()] = str(how)
    return changed


def verify_data(project: Path, expected: dict[str, str]) -> list[DataCheck]:
    """Compare each ``path -> hash`` a run recorded with what DVC records in the restored
    project, and whether the workspace holds it (``Repo.status``).

    Paths that no stage or ``.dvc`` file outputs (source files a stage depends on) are
    code, left to the fingerprint; they are not listed.
    """
    from dvc.repo import Repo

    with working_directory(project), Repo(project) as repo:
        outputs = {v.path: v for v in project_versions(repo) if v.role == "out"}
        changed = _changed_outputs(repo)
    checks = []
    for path, hash_value in sorted(expected.items()):
        version = outputs.get(path)
        if version is None:
            continue
        if version.hash != hash_value:
            state = "differs"
        elif path in changed:
            state = "missing" if version.tracked else "in-git"
        else:
            state = "restored"
        checks.append(DataCheck(path, hash_value, version.hash, state))
    return checks


def describe_problem(check: DataCheck, folder: Path) -> str:
    """One line on a data path that was not restored, with the command that fixes it."""
    where = shlex.quote(str(folder))
    if check.state == "missing":
        return (
            f"{check.path}: {check.expected} is in neither the DVC cache nor the remote: "
            f"run 'dvc push' in the clone that made the run, then 'dvc pull' in {where}"
        )
    if check.state == "differs":
        return (
            f"{check.path}: the restored DVC files record {check.found}, the run "
            f"{check.expected}: the run's dvc.lock artifact is missing; restore it into "
            f"{where} and run 'dvc checkout' there"
        )
    return (
        f"{check.path}: kept in git (cache: false), and no commit holds the version the "
        f"run wrote ({check.expected}): commit what a run leaves (git add -A; git commit) "
        "to keep it; its values are in the run's metrics"
    )


def missing_sources(project: Path) -> list[str]:
    """The data no stage makes (``.dvc`` files, imports, frozen stages) that is not in the
    workspace: what a pipeline run from scratch cannot do without."""
    from dvc.repo import Repo

    with working_directory(project), Repo(project) as repo:
        missing = [
            Path(os.path.relpath(out.fs_path, project)).as_posix()
            for stage in repo.index.stages
            if stage.is_data_source or stage.is_import or stage.frozen
            for out in stage.outs
            if not Path(out.fs_path).exists()
        ]
    return sorted(missing)

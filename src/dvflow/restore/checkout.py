"""``dvflow checkout``: a run's exact code and data, restored and verified.

By default into a new git worktree beside the project (the user's working tree is not
touched); ``in_place`` only on a clean tree. Code: the run's commit plus its
``git.diff``, checked against the run's fingerprint. Data: the ``dvc.lock`` files the
run left, then ``dvc checkout`` (pulling from the DVC remote what the cache lacks),
checked against every hash the run recorded. Everything comes from the git remote,
the MLflow store and the DVC remote: a fresh clone restores a run made elsewhere.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dvflow.errors import RestoreError
from dvflow.project import git_toplevel
from dvflow.restore.datastate import (
    DataCheck,
    checkout_data,
    describe_problem,
    refuse_unsaved_data,
    share_cache,
    verify_data,
    write_locks,
)
from dvflow.restore.lookup import find_run
from dvflow.restore.recorded import RecordedRun, read_recorded
from dvflow.restore.worktree import (
    add_worktree,
    apply_patch,
    checkout_in_place,
    ensure_commit,
    refuse_unless_clean,
    refuse_unless_free,
    restore_left_out,
)
from dvflow.snapshot.code import commits_with_tree, read_code_version
from dvflow.snapshot.gitindex import run_git
from dvflow.workspace import Workspace


@dataclass
class Checkout:
    """What ``checkout_run`` restored, and what it could not.

    Attributes:
        run_id: the run restored.
        folder: the git working tree it was restored into.
        project: the DVC project inside it (``folder`` unless the project is a subfolder).
        commit: the commit checked out.
        patched: whether the run's uncommitted changes were applied.
        fingerprint: the tree id of the restored code.
        expected_fingerprint: the run's ``dvflow.fingerprint``.
        locks: the ``dvc.lock`` files written as the run left them.
        data: each data path of the run, as restored.
        problems: one line per thing not restored, with the command that fixes it.
    """

    run_id: str
    folder: Path
    project: Path
    commit: str
    patched: bool
    fingerprint: str
    expected_fingerprint: str | None
    locks: list[str] = field(default_factory=list)
    data: list[DataCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def code_verified(self) -> bool:
        """The restored code is exactly the state that made the run."""
        return self.fingerprint == self.expected_fingerprint

    @property
    def ok(self) -> bool:
        """Code and every data path restored and verified."""
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "run_id": self.run_id,
            "folder": str(self.folder),
            "commit": self.commit,
            "patched": self.patched,
            "fingerprint": self.fingerprint,
            "expected_fingerprint": self.expected_fingerprint,
            "code_verified": self.code_verified,
            "locks": self.locks,
            "data": [check.__dict__ for check in self.data],
            "problems": self.problems,
            "ok": self.ok,
        }


def default_folder(workspace: Workspace, run_id: str) -> Path:
    """``../<project>-run-<short id>``, beside the git working tree."""
    top = git_toplevel(workspace.project.root) or workspace.project.root
    return top.parent / f"{top.name}-run-{run_id[:8]}"


def restore_code(top: Path, recorded: RecordedRun, folder: Path, in_place: bool) -> list[str]:
    """Put the code that made ``recorded`` into ``folder`` (a new worktree of the clone
    at ``top``, or ``top`` itself); the problems with files the patch left out."""
    assert recorded.commit is not None
    if in_place:
        refuse_unless_clean(top)
        refuse_unsaved_data(top)
    else:
        refuse_unless_free(folder)
    ensure_commit(top, recorded.commit)
    if in_place:
        checkout_in_place(top, recorded.commit)
    else:
        add_worktree(top, folder, recorded.commit)
    if recorded.patch is not None:
        apply_patch(folder, recorded.patch, recorded.run_id)
    return restore_left_out(folder, recorded.left_out)


def _git_kept_outputs(folder: Path, recorded: RecordedRun, checks: list[DataCheck]) -> None:
    """Outputs kept in git (``cache: false``) come from the commit of the state the run
    left, when the user committed it; ``checks`` is updated in place."""
    pending = [i for i, check in enumerate(checks) if check.state == "in-git"]
    if not pending or not recorded.result_fingerprint:
        return
    commits = commits_with_tree(folder, recorded.result_fingerprint)
    if not commits:
        return
    for i in pending:
        check = checks[i]
        # The project may be a subfolder of the git tree; `./` is relative to `folder`.
        out = run_git(folder, ["show", f"{commits[0]}:./{check.path}"])
        if out.returncode == 0:
            (folder / check.path).write_bytes(out.stdout)
            checks[i] = DataCheck(check.path, check.expected, check.found, "restored")


def _stale_data(folder: Path, sub: Path, recorded: RecordedRun) -> list[str]:
    """The run's data paths that are neither in its commit nor in its patch: DVC's,
    not git's. In place they may be left over from later runs (the ``.gitignore`` that
    hides them is not in the commit); they must not count for the code's fingerprint."""
    assert recorded.commit is not None
    listed = run_git(folder, ["ls-tree", "-r", "-z", "--name-only", recorded.commit]).stdout
    in_git = set(listed.decode(errors="replace").split("\0"))
    in_git |= set(re.findall(r"^diff --git a/(.*?) b/", recorded.patch or "", re.MULTILINE))
    paths = [(sub / path).as_posix() for path in recorded.data]
    return [path for path in paths if path not in in_git]


def checkout_run(
    workspace: Workspace, ref: str, *, into: Path | None = None, in_place: bool = False
) -> Checkout:
    """Restore the code and data of the run ``ref`` names, and verify them.

    Args:
        workspace: the project the command runs in, with its store and experiment.
        ref: a run id, a unique prefix of one, or a run name.
        into: the new worktree's folder (default ``default_folder``); it must not exist
            or be empty.
        in_place: check out in the project's own working tree, which must be clean.

    Returns:
        What was restored; ``problems`` names what could not be, and how to fix it.

    Raises:
        RunNotFoundError: ``ref`` names no run, or several.
        RestoreRefusedError: the folder is not empty, or the tree not clean for
            ``in_place``: nothing was changed.
        RestoreError: the run's code cannot be restored (no commit, commit or patch
            missing, patch refused).
    """
    session = workspace.session()
    run = find_run(session.client, [session.experiment_id], ref)
    recorded = read_recorded(session.client, run)
    if recorded.commit is None:
        raise RestoreError(
            f"run {recorded.run_id} was made in a repository without commits: its code "
            "cannot be restored. Commit, then record a new run."
        )
    top = git_toplevel(workspace.project.root) or workspace.project.root
    folder = top if in_place else (into or default_folder(workspace, recorded.run_id)).resolve()
    problems = restore_code(top, recorded, folder, in_place)
    sub = workspace.project.root.resolve().relative_to(top)
    project = folder / sub
    code, _ = read_code_version(folder, keep=_stale_data(folder, sub, recorded))
    if code.fingerprint != recorded.fingerprint:
        problems.append(
            f"code: the restored tree is {code.fingerprint}, the run was made from "
            f"{recorded.fingerprint}: the files above are missing, or the git.diff "
            f"artifact is incomplete; compare with 'git -C {shlex.quote(str(folder))} status'"
        )
    if not in_place:
        share_cache(workspace.project.root, project)
    result = Checkout(
        run_id=recorded.run_id,
        folder=folder,
        project=project,
        commit=recorded.commit,
        patched=recorded.patch is not None,
        fingerprint=code.fingerprint,
        expected_fingerprint=recorded.fingerprint,
        locks=write_locks(project, recorded.locks),
    )
    complaint = checkout_data(project)
    result.data = verify_data(project, recorded.data)
    _git_kept_outputs(folder, recorded, result.data)
    problems += [describe_problem(c, folder) for c in result.data if not c.ok]
    if complaint and not problems:
        problems.append(f"data: {complaint} (dvc status in {shlex.quote(str(project))})")
    result.problems = problems
    return result

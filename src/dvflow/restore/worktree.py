"""The code of a run, put back with git's own commands.

A new worktree (``git worktree add --detach``) leaves the user's working tree alone;
``--in-place`` checks the commit out where the user is, only on a clean tree. The
run's uncommitted changes are its ``git.diff``, applied with ``git apply``; files the
patch left out are taken from git's objects when this clone has their blob.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from dvflow.errors import RestoreError, RestoreRefusedError, one_line
from dvflow.restore.recorded import LeftOut
from dvflow.snapshot.gitindex import run_git


def _has_commit(root: Path, commit: str) -> bool:
    return run_git(root, ["cat-file", "-e", f"{commit}^{{commit}}"]).returncode == 0


def ensure_commit(root: Path, commit: str) -> None:
    """Make sure the clone at ``root`` has ``commit``, fetching its remotes if needed.

    Fetching only updates remote-tracking branches: nothing of the user's changes.

    Raises:
        RestoreError: no remote has the commit either.
    """
    if _has_commit(root, commit):
        return
    run_git(root, ["fetch", "--all", "--quiet"])
    if not _has_commit(root, commit):
        raise RestoreError(
            f"commit {commit} is neither in this clone nor on its remotes: the run's "
            "code cannot be restored. Push it from the clone that made the run "
            "(git push origin <branch>), then run the command again."
        )


def refuse_unless_free(folder: Path) -> None:
    """Refuse a target folder that exists and holds anything."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise RestoreRefusedError(
            f"{folder} already exists and is not empty: nothing was changed. "
            "Give a new folder with --worktree DIR."
        )


def refuse_unless_clean(root: Path) -> None:
    """Refuse to check out in place over uncommitted changes or untracked files."""
    out = run_git(root, ["status", "--porcelain", "-z"]).stdout.decode(errors="replace")
    changed = [entry[3:] for entry in out.split("\0") if len(entry) > 3]
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if changed[5:] else "")
        raise RestoreRefusedError(
            f"--in-place needs a clean working tree, and {shown} "
            f"{'is' if len(changed) == 1 else 'are'} changed or untracked: nothing was "
            "changed. Commit or stash them, or check out into a new worktree (no --in-place)."
        )


def add_worktree(root: Path, folder: Path, commit: str) -> None:
    """``git worktree add --detach folder commit``."""
    refuse_unless_free(folder)
    out = run_git(root, ["worktree", "add", "--detach", "--quiet", str(folder), commit])
    if out.returncode != 0:
        raise RestoreError(
            f"git could not create the worktree {folder}: "
            f"{one_line(out.stderr.decode(errors='replace'))}. Fix that and run again."
        )


def remove_worktree(root: Path, folder: Path) -> None:
    """Remove a worktree dvflow created (with its changes: they were dvflow's own)."""
    run_git(root, ["worktree", "remove", "--force", "--force", str(folder)])
    run_git(root, ["worktree", "prune"])


def checkout_in_place(root: Path, commit: str) -> None:
    """``git checkout --detach commit`` on a clean tree."""
    out = run_git(root, ["checkout", "--detach", "--quiet", commit])
    if out.returncode != 0:
        raise RestoreError(
            f"git could not check out {commit}: "
            f"{one_line(out.stderr.decode(errors='replace'))}. Fix that and run again."
        )


def apply_patch(folder: Path, patch: str, run_id: str) -> None:
    """Apply a run's ``git.diff`` to the working tree at ``folder`` (not to its index).

    Raises:
        RestoreError: git refuses the patch.
    """
    if not patch.strip() or "diff --git" not in patch:
        return
    out = run_git(folder, ["apply", "--whitespace=nowarn", "-"], stdin=patch.encode())
    if out.returncode != 0:
        raise RestoreError(
            f"git could not apply the uncommitted changes of run {run_id} in {folder}: "
            f"{one_line(out.stderr.decode(errors='replace'))}. The worktree holds the "
            "commit alone; check the run's dvflow/git.diff artifact."
        )


def restore_left_out(folder: Path, left_out: list[LeftOut]) -> list[str]:
    """Write the files the patch left out from their git blobs, where this clone has
    them; one problem line (with what to do) for each file that cannot be restored."""
    problems = []
    for item in left_out:
        blob = run_git(folder, ["cat-file", "blob", item.blob]) if item.blob else None
        if blob is not None and blob.returncode == 0:
            target = folder / item.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob.stdout)
            continue
        fix = (
            "copy it there from the machine that made the run"
            if item.blob is None
            else f"copy it from the machine that made the run (its git blob is {item.blob})"
        )
        problems.append(
            f"{item.path}: not in the run's git.diff ({item.reason}, {item.size} bytes) "
            f"and not in this clone: {fix}, e.g. scp HOST:PROJECT/{item.path} "
            f"{shlex.quote(str(folder / item.path))}"
        )
    return problems

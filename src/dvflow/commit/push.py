"""Pushing a commit: DVC's data first, then git, so that no pushed commit points at
data missing from the DVC remote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.errors import DvflowError, one_line
from dvflow.snapshot.gitindex import run_git

if TYPE_CHECKING:
    from dvc.repo import Repo


class PushError(DvflowError):
    """``dvc push`` or ``git push`` failed."""


@dataclass(frozen=True)
class Push:
    """What was pushed: files sent to the DVC remote, and where git pushed."""

    dvc_files: int
    git_remote: str
    git_branch: str


def _git_destination(git_root: Path) -> tuple[str, str, bool]:
    """The remote and branch ``git push`` goes to, and whether the branch has an upstream.

    Raises:
        PushError: detached HEAD, or no git remote to push to.
    """
    branch = run_git(git_root, ["symbolic-ref", "-q", "--short", "HEAD"]).stdout.decode().strip()
    if not branch:
        raise PushError("HEAD is detached: check out a branch, then run 'dvflow commit --push'.")
    upstream = run_git(git_root, ["rev-parse", "--abbrev-ref", f"{branch}@{{upstream}}"])
    if upstream.returncode == 0:
        remote = upstream.stdout.decode().strip().split("/", 1)[0]
        return remote, branch, True
    remotes = run_git(git_root, ["remote"]).stdout.decode().split()
    if not remotes:
        raise PushError(
            "this repository has no git remote: add one ('git remote add origin URL'), "
            "then run 'dvflow commit --push'."
        )
    return ("origin" if "origin" in remotes else remotes[0]), branch, False


def push_all(repo: Repo, git_root: Path) -> Push:
    """``dvc push`` (DVC's API), then ``git push``; nothing goes to git if DVC fails.

    Raises:
        PushError: either push failed; the message says which and whether git got
            anything.
    """
    remote, branch, tracked = _git_destination(git_root)
    try:
        sent = repo.push()
    except Exception as exc:  # DVC raises its own errors, and OSError from the remote
        raise PushError(
            f"dvc push failed ({one_line(exc)}): nothing was pushed to git. Fix the DVC "
            "remote ('dvc remote list'), then run 'dvflow commit --push' again."
        ) from exc
    args = ["push", "--porcelain"] if tracked else ["push", "--porcelain", "-u", remote, branch]
    pushed = run_git(git_root, args)
    if pushed.returncode != 0:
        raise PushError(
            f"git push to {remote} failed ({one_line(pushed.stderr.decode(errors='replace'))}); "
            "the data is on the DVC remote. Fix it and run 'dvflow commit --push' again."
        )
    return Push(int(sent or 0), remote, branch)

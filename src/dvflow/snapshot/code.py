"""The code part of a snapshot: commit, branch, remote, dirty state and fingerprint.

The fingerprint is the git tree id of the working tree as it is: tracked files with
their current content plus untracked files that are not ignored. A commit whose tree
has the same id records exactly the state a dirty run was made from.

Nothing is ever written into the user's ``.git``: git works on throw-away copies of
the index and a throw-away object folder. The fingerprint hashes changed files
without storing them (``update-index --info-only``, ``write-tree --missing-ok``), and
the patch is read from the working tree (intent-to-add entries, ``git diff <base>``).
Git's stat cache, copied with the index, keeps unchanged files from being re-read.
The real object folder is an alternate, read only; git may at most refresh the mtime
of an object it finds there instead of writing it again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dvflow.errors import NotAProjectError
from dvflow.snapshot.gitindex import ScratchIndex, run_git
from dvflow.snapshot.patch import WorkingTreeDiff, working_tree_diff
from dvflow.snapshot.redact import strip_credentials

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class CodeVersion:
    """The state of the code at one moment."""

    commit: str | None
    branch: str | None
    remote_url: str | None
    dirty: bool
    fingerprint: str
    shallow: bool

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return dict(self.__dict__)


def _normalise_keep(root: Path, keep: Sequence[str]) -> tuple[str, ...]:
    kept = []
    for item in keep:
        path = Path(item)
        if path.is_absolute():
            path = path.relative_to(root) if path.is_relative_to(root) else Path("..")
        posix = path.as_posix().strip("/")
        if posix and not posix.startswith(".."):
            kept.append("" if posix == "." else posix)
    return tuple(kept)


def _is_kept(path: str, kept: tuple[str, ...]) -> bool:
    return any(k == "" or path == k or path.startswith(f"{k}/") for k in kept)


def _remote_url(root: Path) -> str | None:
    # git's own choice of remote (the branch's, else origin or the only one), with
    # url.<base>.insteadOf applied, in one process.
    out = run_git(root, ["ls-remote", "--get-url"])
    if out.returncode != 0:
        # Several remotes, none of them origin or the branch's: the first one.
        names = run_git(root, ["remote"]).stdout.decode().split()
        out = run_git(root, ["ls-remote", "--get-url", names[0]]) if names else out
    url = out.stdout.decode(errors="replace").strip()
    # `.` is the branch's remote when it tracks a local branch: no repository URL.
    return strip_credentials(url) if out.returncode == 0 and url not in ("", ".") else None


def read_code_version(
    root: Path, *, with_diff: bool = False, keep: Sequence[str] = ()
) -> tuple[CodeVersion, WorkingTreeDiff | None]:
    """Read the code state of the git repository at ``root``; write nothing into it.

    Args:
        root: the top folder of the git working tree.
        with_diff: also return the patch from the commit (or the empty tree) to the
            working tree when the tree is dirty, untracked files included. Binary
            files, files over ``MAX_FILE_BYTES``, credential files and files past
            ``MAX_PATCH_BYTES`` of patch are listed in ``WorkingTreeDiff.omitted``.
        keep: paths relative to ``root`` (files or folders) taken as the index has
            them, not as the working tree has them: they count neither for ``dirty``
            nor for the fingerprint nor for the diff. For files DVC rewrites while a
            pipeline runs (``dvc.lock``, git-tracked metrics outputs).

    Works with no commits, a detached HEAD, a shallow clone and unmerged paths.

    Raises:
        NotAProjectError: ``root`` is not inside a git working tree.
        GitStateError: git failed to report the state.
    """
    head = run_git(
        root,
        [
            *("rev-parse", "--is-shallow-repository", "--path-format=absolute"),
            *("--git-path", "index", "--git-path", "objects", "-q", "--verify", "HEAD^{tree}"),
        ],
    )
    lines = head.stdout.decode().splitlines()
    if len(lines) < 3:
        raise NotAProjectError(str(root))
    shallow, index_path, objects = lines[:3]
    head_tree = lines[3] if len(lines) > 3 else None
    kept = _normalise_keep(root, keep)
    with tempfile.TemporaryDirectory(prefix="dvflow-index-") as folder:
        scratch = ScratchIndex(root, Path(folder), Path(index_path), objects)
        commit, branch, changes = scratch.status()
        staged = any(c.staged for c in changes)
        changes = sorted(
            (c for c in changes if not _is_kept(c.path, kept)), key=lambda c: os.fsencode(c.path)
        )
        unstaged = [c.path for c in changes if c.unstaged]
        if head_tree and not unstaged and not staged:
            fingerprint = head_tree  # git status saw nothing: no need to build a tree
        else:
            fingerprint = scratch.write_tree(unstaged, keep_diff_index=with_diff)
        dirty = fingerprint != (head_tree or EMPTY_TREE)
        diff = None
        if with_diff and dirty:
            diff = working_tree_diff(scratch, commit or EMPTY_TREE, changes, kept)
            if not diff.patch and not diff.omitted:
                diff = None
    version = CodeVersion(
        commit=commit,
        branch=branch,
        remote_url=_remote_url(root),
        dirty=dirty,
        fingerprint=fingerprint,
        shallow=shallow == "true",
    )
    return version, diff


def commits_with_tree(root: Path, fingerprint: str, max_count: int = 1000) -> list[str]:
    """Commits (newest first, among the last ``max_count`` on all refs) whose tree is
    ``fingerprint``: the commits that record exactly a run's code."""
    out = run_git(root, ["log", "--all", f"--max-count={max_count}", "--format=%H %T"])
    if out.returncode != 0:
        return []
    lines = out.stdout.decode().split()
    return [c for c, t in zip(lines[::2], lines[1::2], strict=True) if t == fingerprint]

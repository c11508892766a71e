"""The code part of a snapshot: commit, branch, remote, dirty state and fingerprint.

The fingerprint is the git tree id of the working tree as it is: tracked files with
their current content plus untracked files that are not ignored. It is computed with a
throw-away copy of the index (git's own ``stash create`` technique), so the user's
index is never touched, and git's stat cache keeps it cheap. A commit whose tree has
the same id records exactly the state a dirty run was made from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dvflow.snapshot.redact import SECRET_FILE_GLOBS, redact_text, strip_credentials

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


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> str | None:
    # A diff can hold any bytes (a binary file git takes for text, a legacy encoding).
    out = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else None


class _WorkingTreeIndex:
    """A temporary index holding the working tree as it is now."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dir = tempfile.TemporaryDirectory(prefix="dvflow-index-")
        self.path = Path(self._dir.name) / "index"
        real = _git(root, "rev-parse", "--path-format=absolute", "--git-path", "index")
        if real and Path(real).is_file():
            shutil.copy2(real, self.path)
        self.env = {**os.environ, "GIT_INDEX_FILE": str(self.path)}
        subprocess.run(
            ["git", "add", "--all", "--", "."],
            cwd=root,
            env=self.env,
            capture_output=True,
            check=True,
        )

    def write_tree(self) -> str:
        tree = _git(self.root, "write-tree", env=self.env)
        assert tree, "git write-tree failed on a freshly built index"
        return tree

    def diff(self, base: str) -> str:
        # Untracked files are in the diff whole: leave out the ones that hold
        # credentials by convention, and strip credentials from URLs in the rest.
        excluded = [f":(exclude,glob)**/{pattern}" for pattern in SECRET_FILE_GLOBS]
        patch = _git(
            self.root, "diff", "--cached", "--binary", base, "--", ".", *excluded, env=self.env
        )
        return redact_text(patch or "")

    def close(self) -> None:
        self._dir.cleanup()


def _remote_url(root: Path, branch: str | None) -> str | None:
    name = None
    if branch:
        name = _git(root, "config", f"branch.{branch}.remote")
    if not name:
        remotes = (_git(root, "remote") or "").split()
        name = "origin" if "origin" in remotes else (remotes[0] if remotes else None)
    if not name:
        return None
    url = _git(root, "remote", "get-url", name)
    return strip_credentials(url) if url else None


def read_code_version(root: Path, *, with_diff: bool = False) -> tuple[CodeVersion, str | None]:
    """Read the code state of the git repository at ``root``.

    Returns the version and, when ``with_diff`` is set and the tree is dirty, the patch
    from the commit (or the empty tree) to the working tree, untracked files included.
    Works with no commits, a detached HEAD and a shallow clone.
    """
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    branch = _git(root, "symbolic-ref", "--short", "--quiet", "HEAD")
    shallow = _git(root, "rev-parse", "--is-shallow-repository") == "true"
    index = _WorkingTreeIndex(root)
    try:
        fingerprint = index.write_tree()
        base_tree = _git(root, "rev-parse", f"{commit}^{{tree}}") if commit else EMPTY_TREE
        dirty = fingerprint != base_tree
        diff = index.diff(commit or EMPTY_TREE) if (with_diff and dirty) else None
    finally:
        index.close()
    version = CodeVersion(
        commit=commit,
        branch=branch,
        remote_url=_remote_url(root, branch),
        dirty=dirty,
        fingerprint=fingerprint,
        shallow=shallow,
    )
    return version, diff


def commits_with_tree(root: Path, fingerprint: str, max_count: int = 1000) -> list[str]:
    """Commits (newest first, among the last ``max_count`` on all refs) whose tree is
    ``fingerprint``: the commits that record exactly a run's code."""
    out = _git(root, "log", "--all", f"--max-count={max_count}", "--format=%H %T")
    if not out:
        return []
    return [line.split()[0] for line in out.splitlines() if line.split()[1] == fingerprint]

"""Git's view of a working tree, from throw-away copies of the index.

Git works here on a copy of the user's index and a throw-away object folder, never on
``.git`` itself: ``ScratchIndex`` runs ``git status``, builds a tree with
``update-index --info-only`` and ``write-tree --missing-ok``, and reads a patch from
the working tree with intent-to-add entries. The real object folder is an alternate,
read only; git may at most refresh the mtime of an object it finds there instead of
writing it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dvflow.errors import DvflowError, one_line


class GitStateError(DvflowError):
    """Git could not report the state of the working tree."""

    def __init__(self, root: Path, command: str, stderr: str) -> None:
        super().__init__(
            f"'git {command}' failed in {root}: {one_line(stderr) or 'no message'}. "
            "Run 'git status' there and fix what git reports."
        )


@dataclass(frozen=True)
class Change:
    """A path whose content differs between HEAD, the index and the working tree."""

    path: str
    staged: bool  # the index differs from HEAD
    unstaged: bool  # the working tree differs from the index (or is untracked, unmerged)
    untracked: bool
    head_blob: str | None  # None when HEAD has no such file


def run_git(
    root: Path, args: Sequence[str], env: dict[str, str] | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args], cwd=root, input=stdin, capture_output=True, env=env, check=False
    )


def git_output(
    root: Path, args: Sequence[str], env: dict[str, str] | None = None, **kw: bytes
) -> bytes:
    out = run_git(root, args, env, **kw)
    if out.returncode != 0:
        raise GitStateError(root, " ".join(args[:2]), out.stderr.decode(errors="replace"))
    return out.stdout


def nul_paths(paths: Sequence[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def is_null_oid(oid: str) -> bool:
    return not oid.strip("0")


def parse_status(out: bytes) -> tuple[str | None, str | None, list[Change]]:
    """Commit, branch and changes from ``git status --porcelain=v2 --branch -z``."""
    commit = branch = None
    changes: list[Change] = []
    tokens = iter(out.split(b"\0"))
    for token in tokens:
        line = os.fsdecode(token)
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif line.startswith("? "):
            # An untracked nested repository is listed as `sub/`; git adds it as `sub`.
            changes.append(Change(line[2:].rstrip("/"), False, True, True, None))
        elif line[:2] in ("1 ", "2 ", "u "):
            # `1 XY sub mH mI mW hH hI path`, `u XY sub m1 m2 m3 mW h1 h2 h3 path`; the
            # `2` of a rename (not asked for) has a score, then the old path in a token.
            kind, xy = line[0], line[2:4]
            fields = line.split(" ", {"1": 8, "2": 9, "u": 10}[kind])
            if kind == "2":
                next(tokens, None)
            head = fields[8] if kind == "u" else fields[6]
            unstaged = kind == "u" or xy[1] != "."
            changes.append(
                Change(
                    fields[-1], xy[0] != ".", unstaged, False, None if is_null_oid(head) else head
                )
            )
    return commit, branch, changes


class ScratchIndex:
    """Throw-away indexes and object folder: git writes here, never into ``.git``."""

    def __init__(self, root: Path, folder: Path, real_index: Path, real_objects: str) -> None:
        self.root = root
        self.real_objects = real_objects
        self.objects = folder / "objects"
        self.objects.mkdir()
        self.fingerprint_index = folder / "index"
        self.diff_index = folder / "diff-index"
        if real_index.is_file():
            # copy2 keeps the mtime, which git's racy-clean check compares against.
            shutil.copy2(real_index, self.fingerprint_index)

    def env(self, index: Path, *, own_objects: bool = True) -> dict[str, str]:
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        if own_objects:
            # New objects go to the scratch folder; existing ones are found in the real
            # one (write-tree trusts the index's cached subtrees only if they exist).
            env["GIT_OBJECT_DIRECTORY"] = str(self.objects)
            env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = self.real_objects
        return env

    def status(self) -> tuple[str | None, str | None, list[Change]]:
        # Reads HEAD's objects, writes nothing but the refreshed copy of the index.
        args = ["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"]
        out = git_output(
            self.root, [*args, "--no-renames"], self.env(self.fingerprint_index, own_objects=False)
        )
        return parse_status(out)

    def write_tree(self, unstaged: list[str], keep_diff_index: bool) -> str:
        if keep_diff_index and self.fingerprint_index.is_file():
            shutil.copy2(self.fingerprint_index, self.diff_index)
        env = self.env(self.fingerprint_index)
        if unstaged:
            args = ["update-index", "-z", "--add", "--remove", "--info-only", "--stdin"]
            git_output(self.root, args, env, stdin=nul_paths(unstaged))
        return git_output(self.root, ["write-tree", "--missing-ok"], env).decode().strip()

    def index_blobs(self) -> dict[str, str]:
        out = git_output(self.root, ["ls-files", "--stage", "-z"], self.env(self.fingerprint_index))
        entries = (os.fsdecode(e).split("\t", 1) for e in out.split(b"\0") if e)
        return {path: info.split(" ")[1] for info, path in entries}

    def blob_sizes(self, blobs: list[str]) -> dict[str, int]:
        if not blobs:
            return {}
        stdin = "".join(f"{b}\n" for b in blobs).encode()
        out = git_output(
            self.root, ["cat-file", "--batch-check=%(objectname) %(objectsize)"], stdin=stdin
        )
        sizes = (line.split(" ") for line in out.decode().splitlines())
        return {s[0]: int(s[1]) for s in sizes if len(s) == 2 and s[1].isdigit()}

    def patch(self, base: str, untracked: list[str], excluded: list[str]) -> bytes:
        """``git diff --numstat --patch -z`` from ``base`` to the working tree."""
        env = self.env(self.diff_index)
        if untracked:
            # Intent-to-add entries put untracked files in the diff, read from disk;
            # `add -N` stores the empty blob, in the throw-away object folder.
            args = ["add", "-N", "--pathspec-from-file=-", "--pathspec-file-nul"]
            git_output(self.root, args, env, stdin=nul_paths(untracked))
        args = ["diff", "--numstat", "--patch", "-z", "--full-index", "--no-renames"]
        # Plain output whatever the user's configuration says.
        args += ["--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/"]
        args += ["--dst-prefix=b/", base, "--", ".", *(f":(exclude,literal){p}" for p in excluded)]
        return git_output(self.root, args, env)

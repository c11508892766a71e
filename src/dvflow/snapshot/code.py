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

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dvflow.errors import DvflowError, NotAProjectError, one_line
from dvflow.snapshot.redact import is_credential_file, redact_text, strip_credentials

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# A file bigger than this (before or after the change) is listed, not patched.
MAX_FILE_BYTES = 1_000_000
# The patch stops growing here; the files after it are listed, not patched.
MAX_PATCH_BYTES = 5_000_000
# Files whose sizes add up past this are not even diffed: a bound on the work git
# does for a tree with gigabytes of changed small files (most patches are smaller).
_MAX_DIFFED_BYTES = 4 * MAX_PATCH_BYTES

_INDEX_LINE = re.compile(rb"^index ([0-9a-f]+)\.\.([0-9a-f]+)", re.MULTILINE)


class GitStateError(DvflowError):
    """Git could not report the state of the working tree."""

    def __init__(self, root: Path, command: str, stderr: str) -> None:
        super().__init__(
            f"'git {command}' failed in {root}: {one_line(stderr) or 'no message'}. "
            "Run 'git status' there and fix what git reports."
        )


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


@dataclass(frozen=True)
class OmittedFile:
    """A changed file that is not in the patch, and why."""

    path: str
    size: int
    # None for credential files: a blob id of a short secret can be brute-forced.
    blob: str | None
    reason: str


@dataclass(frozen=True)
class WorkingTreeDiff:
    """The patch from the commit to the working tree, and the files left out of it."""

    patch: str
    omitted: list[OmittedFile] = field(default_factory=list)

    def text(self) -> str:
        """The patch preceded by one comment line per left-out file.

        The comments come before the first ``diff --git`` line, where ``git apply``
        skips them.
        """
        if not self.omitted:
            return self.patch
        lines = [
            f"# dvflow: {len(self.omitted)} changed file(s) are not in this patch "
            "(path, size in bytes, git blob id, reason):"
        ]
        lines += [
            f"#   {json.dumps(f.path)} {f.size} {f.blob or '-'} {f.reason}" for f in self.omitted
        ]
        return "\n".join(lines) + "\n" + self.patch

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {"patch": self.patch, "omitted": [asdict(f) for f in self.omitted]}


@dataclass(frozen=True)
class _Change:
    """A path whose content differs between HEAD, the index and the working tree."""

    path: str
    staged: bool  # the index differs from HEAD
    unstaged: bool  # the working tree differs from the index (or is untracked, unmerged)
    untracked: bool
    head_blob: str | None  # None when HEAD has no such file


def _run(
    root: Path, args: Sequence[str], env: dict[str, str] | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args], cwd=root, input=stdin, capture_output=True, env=env, check=False
    )


def _git(root: Path, args: Sequence[str], env: dict[str, str] | None = None, **kw: bytes) -> bytes:
    out = _run(root, args, env, **kw)
    if out.returncode != 0:
        raise GitStateError(root, " ".join(args[:2]), out.stderr.decode(errors="replace"))
    return out.stdout


def _paths(paths: Sequence[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def _is_null(oid: str) -> bool:
    return not oid.strip("0")


def _parse_status(out: bytes) -> tuple[str | None, str | None, list[_Change]]:
    """Commit, branch and changes from ``git status --porcelain=v2 --branch -z``."""
    commit = branch = None
    changes: list[_Change] = []
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
            changes.append(_Change(line[2:].rstrip("/"), False, True, True, None))
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
                _Change(fields[-1], xy[0] != ".", unstaged, False, None if _is_null(head) else head)
            )
    return commit, branch, changes


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


class _Scratch:
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

    def status(self) -> tuple[str | None, str | None, list[_Change]]:
        # Reads HEAD's objects, writes nothing but the refreshed copy of the index.
        args = ["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"]
        out = _git(
            self.root, [*args, "--no-renames"], self.env(self.fingerprint_index, own_objects=False)
        )
        return _parse_status(out)

    def write_tree(self, unstaged: list[str], keep_diff_index: bool) -> str:
        if keep_diff_index and self.fingerprint_index.is_file():
            shutil.copy2(self.fingerprint_index, self.diff_index)
        env = self.env(self.fingerprint_index)
        if unstaged:
            args = ["update-index", "-z", "--add", "--remove", "--info-only", "--stdin"]
            _git(self.root, args, env, stdin=_paths(unstaged))
        return _git(self.root, ["write-tree", "--missing-ok"], env).decode().strip()

    def index_blobs(self) -> dict[str, str]:
        out = _git(self.root, ["ls-files", "--stage", "-z"], self.env(self.fingerprint_index))
        entries = (os.fsdecode(e).split("\t", 1) for e in out.split(b"\0") if e)
        return {path: info.split(" ")[1] for info, path in entries}

    def blob_sizes(self, blobs: list[str]) -> dict[str, int]:
        if not blobs:
            return {}
        stdin = "".join(f"{b}\n" for b in blobs).encode()
        out = _git(
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
            _git(self.root, args, env, stdin=_paths(untracked))
        args = ["diff", "--numstat", "--patch", "-z", "--full-index", "--no-renames"]
        # Plain output whatever the user's configuration says.
        args += ["--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/"]
        args += ["--dst-prefix=b/", base, "--", ".", *(f":(exclude,literal){p}" for p in excluded)]
        return _git(self.root, args, env)


def _omit_before_diff(
    scratch: _Scratch, changes: list[_Change]
) -> tuple[list[_Change], list[OmittedFile], dict[str, int]]:
    """Split the changes into the ones to diff and the ones left out without diffing:
    credential files, files over MAX_FILE_BYTES, files past the diffing budget."""
    sizes = scratch.blob_sizes(sorted({c.head_blob for c in changes if c.head_blob}))
    diffed: list[_Change] = []
    omitted: list[tuple[_Change, int, str]] = []
    file_sizes: dict[str, int] = {}
    budget = 0
    for change in changes:
        target = scratch.root / change.path
        try:
            # A folder here is a submodule or nested repository: its patch is one line.
            new_size = 0 if target.is_dir() else target.lstat().st_size
        except FileNotFoundError:
            new_size = -1  # deleted
        old_size = sizes.get(change.head_blob or "", 0)
        size = file_sizes[change.path] = new_size if new_size >= 0 else old_size
        if is_credential_file(change.path):
            omitted.append((change, size, "credential file"))
        elif max(new_size, old_size) > MAX_FILE_BYTES:
            omitted.append((change, size, f"larger than {MAX_FILE_BYTES:,} bytes"))
        elif budget + max(new_size, 0) + old_size > _MAX_DIFFED_BYTES:
            budget = _MAX_DIFFED_BYTES + 1  # keep the patch a prefix in path order
            omitted.append((change, size, "total patch limit"))
        else:
            budget += max(new_size, 0) + old_size
            diffed.append(change)
    blobs = scratch.index_blobs() if any(r != "credential file" for _, _, r in omitted) else {}
    listed = [
        OmittedFile(
            path=c.path,
            size=size,
            blob=None if reason == "credential file" else (blobs.get(c.path) or c.head_blob),
            reason=reason,
        )
        for c, size, reason in omitted
    ]
    return diffed, listed, file_sizes


def _split_patch(root: Path, out: bytes) -> list[tuple[str, bool, bytes]]:
    """(path, binary, patch) per file of ``git diff --numstat --patch -z``."""
    end = out.find(b"\0\0")
    if end < 0:
        return []
    stats = out[:end].split(b"\0")
    patch = out[end + 2 :]
    starts = [0] + [m.start() + 1 for m in re.finditer(rb"\ndiff --git ", patch)]
    chunks = [patch[a:b] for a, b in zip(starts, [*starts[1:], len(patch)], strict=True)]
    if len(chunks) != len(stats):
        # Not expected from git; never attribute a chunk to the wrong file.
        raise GitStateError(root, "diff --numstat", "numstat and patch disagree")
    files = []
    for stat, chunk in zip(stats, chunks, strict=True):
        added, _deleted, path = stat.split(b"\t", 2)
        files.append((os.fsdecode(path), added == b"-", chunk))
    return files


def _blob_of(chunk: bytes) -> str | None:
    # `--full-index` puts whole blob ids in the chunk's `index <old>..<new>` line.
    match = _INDEX_LINE.search(chunk, 0, 4096)  # in the header, before any content
    if not match:
        return None
    old, new = match.group(1).decode(), match.group(2).decode()
    return old if _is_null(new) else new


def _working_tree_diff(
    scratch: _Scratch, base: str, changes: list[_Change], kept: tuple[str, ...]
) -> WorkingTreeDiff:
    diffed, omitted, sizes = _omit_before_diff(scratch, changes)
    untracked = [c.path for c in diffed if c.untracked]
    # Untracked files left out are simply not added; tracked ones need an exclusion.
    diffed_paths = {c.path for c in diffed}
    excluded = [c.path for c in changes if not c.untracked and c.path not in diffed_paths]
    out = scratch.patch(base, untracked, [*excluded, *kept])
    parts: list[str] = []
    total = 0
    for path, binary, chunk in _split_patch(scratch.root, out):
        reason, text = "binary", ""
        if not binary:
            try:
                text = redact_text(chunk.decode("utf-8"))
                reason = ""
            except UnicodeDecodeError:
                reason = "not UTF-8 text"
        if not reason and total + len(text.encode()) > MAX_PATCH_BYTES:
            total = MAX_PATCH_BYTES + 1  # keep the patch a prefix in path order
            reason = "total patch limit"
        if reason:
            omitted.append(OmittedFile(path, sizes.get(path, 0), _blob_of(chunk), reason))
        else:
            total += len(text.encode())
            parts.append(text)
    omitted.sort(key=lambda f: os.fsencode(f.path))
    return WorkingTreeDiff(patch="".join(parts), omitted=omitted)


def _remote_url(root: Path) -> str | None:
    # git's own choice of remote (the branch's, else origin or the only one), with
    # url.<base>.insteadOf applied, in one process.
    out = _run(root, ["ls-remote", "--get-url"])
    if out.returncode != 0:
        # Several remotes, none of them origin or the branch's: the first one.
        names = _run(root, ["remote"]).stdout.decode().split()
        out = _run(root, ["ls-remote", "--get-url", names[0]]) if names else out
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
    head = _run(
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
        scratch = _Scratch(root, Path(folder), Path(index_path), objects)
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
            diff = _working_tree_diff(scratch, commit or EMPTY_TREE, changes, kept)
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
    out = _run(root, ["log", "--all", f"--max-count={max_count}", "--format=%H %T"])
    if out.returncode != 0:
        return []
    lines = out.stdout.decode().split()
    return [c for c, t in zip(lines[::2], lines[1::2], strict=True) if t == fingerprint]

"""The ``git.diff`` of a dirty run: bounded, and honest about what it leaves out.

Text changes go in the patch; binary files, files over ``MAX_FILE_BYTES``, credential
files and files past ``MAX_PATCH_BYTES`` of patch are listed instead (path, size, blob
id, reason), in comment lines before the first ``diff --git`` where ``git apply``
skips them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dvflow.snapshot.gitindex import Change, GitStateError, ScratchIndex, is_null_oid
from dvflow.snapshot.redact import (
    is_credential_content,
    is_credential_file,
    redact_text,
    secret_values,
)

# A file bigger than this (before or after the change) is listed, not patched.
MAX_FILE_BYTES = 1_000_000
# The patch stops growing here; the files after it are listed, not patched.
MAX_PATCH_BYTES = 5_000_000
# Files whose sizes add up past this are not even diffed: a bound on the work git
# does for a tree with gigabytes of changed small files (most patches are smaller).
_MAX_DIFFED_BYTES = 4 * MAX_PATCH_BYTES

# The reason given for a credential file (by name or content): listed without blob id.
CREDENTIAL = "credential file"
_INDEX_LINE = re.compile(rb"^index ([0-9a-f]+)\.\.([0-9a-f]+)", re.MULTILINE)


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


def _omit_before_diff(
    scratch: ScratchIndex, changes: list[Change]
) -> tuple[list[Change], list[OmittedFile], dict[str, int]]:
    """Split the changes into the ones to diff and the ones left out without diffing:
    credential files, files over MAX_FILE_BYTES, files past the diffing budget."""
    sizes = scratch.blob_sizes(sorted({c.head_blob for c in changes if c.head_blob}))
    diffed: list[Change] = []
    omitted: list[tuple[Change, int, str]] = []
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
            omitted.append((change, size, CREDENTIAL))
        elif max(new_size, old_size) > MAX_FILE_BYTES:
            omitted.append((change, size, f"larger than {MAX_FILE_BYTES:,} bytes"))
        elif budget + max(new_size, 0) + old_size > _MAX_DIFFED_BYTES:
            budget = _MAX_DIFFED_BYTES + 1  # keep the patch a prefix in path order
            omitted.append((change, size, "total patch limit"))
        else:
            budget += max(new_size, 0) + old_size
            diffed.append(change)
    blobs = scratch.index_blobs() if any(r != CREDENTIAL for _, _, r in omitted) else {}
    listed = [
        OmittedFile(
            path=c.path,
            size=size,
            blob=None if reason == CREDENTIAL else (blobs.get(c.path) or c.head_blob),
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
    return old if is_null_oid(new) else new


def working_tree_diff(
    scratch: ScratchIndex, base: str, changes: list[Change], kept: tuple[str, ...]
) -> WorkingTreeDiff:
    """The patch from ``base`` to the working tree, secrets redacted, with the files
    left out of it listed."""
    diffed, omitted, sizes = _omit_before_diff(scratch, changes)
    untracked = [c.path for c in diffed if c.untracked]
    # Untracked files left out are simply not added; tracked ones need an exclusion.
    diffed_paths = {c.path for c in diffed}
    excluded = [c.path for c in changes if not c.untracked and c.path not in diffed_paths]
    out = scratch.patch(base, untracked, [*excluded, *kept])
    parts: list[str] = []
    total = 0
    values = secret_values()
    for path, binary, chunk in _split_patch(scratch.root, out):
        reason, text = "binary", ""
        if not binary:
            try:
                text = chunk.decode("utf-8")
                # A private key or service-account JSON under any name is left out
                # whole; in other text only the secrets are redacted.
                reason = CREDENTIAL if is_credential_content(text) else ""
                text = "" if reason else redact_text(text, values)
            except UnicodeDecodeError:
                reason = "not UTF-8 text"
        if not reason and total + len(text.encode()) > MAX_PATCH_BYTES:
            total = MAX_PATCH_BYTES + 1  # keep the patch a prefix in path order
            reason = "total patch limit"
        if reason:
            blob = None if reason == CREDENTIAL else _blob_of(chunk)
            omitted.append(OmittedFile(path, sizes.get(path, 0), blob, reason))
        else:
            total += len(text.encode())
            parts.append(text)
    omitted.sort(key=lambda f: os.fsencode(f.path))
    return WorkingTreeDiff(patch="".join(parts), omitted=omitted)

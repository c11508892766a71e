"""What belongs in a commit: every changed path, staged or left out, with the reason.

The decision uses DVC's own knowledge of what it tracks (``Repo.index``: outputs it
keeps in its cache, ``.dvc`` files, ``dvc.lock``, params files, the outputs it leaves to
git) and git's status. Data DVC keeps in its cache is never staged: git gets the
``.dvc`` file or ``dvc.lock`` entry that records its hash.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.snapshot.gitindex import git_output, nul_paths, parse_status
from dvflow.snapshot.redact import is_credential_file

if TYPE_CHECKING:
    from dvc.repo import Repo

# An untracked file past this size is data, not code: `dvc add` it (dvflow doctor warns
# about the same files).
LARGE_FILE_BYTES = 5 * 1024 * 1024
# Untracked files with these suffixes (or names) are code or configuration: staged.
SOURCE_SUFFIXES = frozenset(
    (
        *(".py", ".pyi", ".ipynb", ".r", ".jl", ".sh", ".bash", ".sql", ".scala", ".java"),
        *(".js", ".ts", ".c", ".cc", ".cpp", ".h", ".hpp", ".rs", ".go", ".m"),
        *(".toml", ".cfg", ".ini", ".yaml", ".yml", ".json", ".md", ".rst", ".txt"),
    )
)
SOURCE_NAMES = frozenset(
    ("Dockerfile", "Makefile", ".gitignore", ".dvcignore", ".dockerignore", ".gitattributes")
)


@dataclass(frozen=True)
class PathDecision:
    """One changed path (relative to the git top level) and what the commit does with it."""

    path: str
    change: str  # modified, deleted, untracked, staged
    staged: bool
    reason: str


@dataclass
class StagingPlan:
    """Every changed path of the working tree, staged or left out."""

    decisions: list[PathDecision] = field(default_factory=list)
    # Paths the user staged that must not be committed (DVC-cached data).
    refused: list[PathDecision] = field(default_factory=list)

    @property
    def to_stage(self) -> list[str]:
        """The paths to give to ``git add``."""
        return [d.path for d in self.decisions if d.staged]

    @property
    def left(self) -> list[PathDecision]:
        """The paths left out of the commit."""
        return [d for d in self.decisions if not d.staged]


@dataclass(frozen=True)
class DvcKnowledge:
    """What DVC tracks, as paths relative to the git top level."""

    cached: frozenset[str]  # outputs whose content is in DVC's cache: data
    git_outputs: frozenset[str]  # outputs with `cache: false`: DVC keeps them in git
    pipeline_files: frozenset[str]  # dvc.yaml, dvc.lock, .dvc files, params files
    git_deps: frozenset[str]  # dependencies that are not DVC data: source files

    @classmethod
    def of(cls, repo: Repo, git_root: Path) -> DvcKnowledge:
        """Read from DVC's index of ``repo``."""
        from dvflow.snapshot.params import params_files

        def rel(path: str | os.PathLike[str]) -> str:
            return Path(os.path.relpath(path, git_root)).as_posix()

        cached: set[str] = set()
        git_outputs: set[str] = set()
        pipeline: set[str] = set()
        deps: set[str] = set()
        for out in repo.index.outs:
            if out.is_in_repo:
                (cached if out.use_cache else git_outputs).add(rel(out.fs_path))
        for stage in repo.index.stages:
            dvcfile = Path(stage.dvcfile.path)
            pipeline.add(rel(dvcfile))
            if dvcfile.name.endswith(".yaml"):
                pipeline.add(rel(dvcfile.with_suffix(".lock")))
            deps.update(rel(d.fs_path) for d in stage.deps if getattr(d, "is_in_repo", False))
        pipeline.update(rel(p) for p in params_files(repo))
        data = frozenset(cached)
        return cls(
            cached=data,
            git_outputs=frozenset(git_outputs),
            pipeline_files=frozenset(pipeline),
            git_deps=frozenset(d for d in deps if not _is_under(d, data)),
        )


def _is_under(path: str, folders: Iterable[str]) -> bool:
    return any(path == f or path.startswith(f"{f}/") for f in folders)


def _untracked_reason(path: str, dvc: DvcKnowledge, git_root: Path) -> tuple[bool, str]:
    name = path.rsplit("/", 1)[-1]
    if path in dvc.pipeline_files or name.endswith(".dvc"):
        return True, "pipeline file (dvc.yaml, dvc.lock, .dvc file or params file)"
    if _is_under(path, dvc.git_outputs):
        return True, "output DVC keeps in git (cache: false), e.g. metrics"
    if name.startswith("requirements") and name.endswith(".txt"):
        return True, "requirements"
    if name == ".gitignore":
        return True, "ignore file (DVC lists its outputs there)"
    try:
        size = (git_root / path).stat().st_size
    except OSError:
        size = 0
    if size > LARGE_FILE_BYTES:
        return False, f"large file ({size} bytes): track it with 'dvc add {path}'"
    if _is_under(path, dvc.git_deps):
        return True, "source file a stage depends on"
    if name in SOURCE_NAMES or Path(name).suffix.lower() in SOURCE_SUFFIXES:
        return True, "source file"
    return False, "new file that is neither source, params nor pipeline: 'git add' it if it belongs"


def plan_staging(git_root: Path, dvc: DvcKnowledge) -> StagingPlan:
    """Decide, for every path ``git status`` reports, whether the commit takes it.

    Tracked changes are staged, except DVC-cached data; untracked files are staged when
    they are source, params, requirements or pipeline files, or outputs DVC keeps in
    git. Credential files and large untracked files are never staged.
    """
    out = git_output(git_root, ["status", "--porcelain=v2", "-z", "--untracked-files=all"])
    _, _, changes = parse_status(out)
    plan = StagingPlan()
    for change in changes:
        path = change.path
        kind = "untracked" if change.untracked else "modified" if change.unstaged else "staged"
        if kind == "modified" and not (git_root / path).exists():
            kind = "deleted"
        if _is_under(path, dvc.cached):
            decision = PathDecision(
                path, kind, False, "DVC-tracked data: its .dvc file or dvc.lock records it"
            )
            if change.staged:
                plan.refused.append(decision)
            plan.decisions.append(decision)
        elif is_credential_file(path) and not change.staged:
            plan.decisions.append(
                PathDecision(path, kind, False, "looks like a credential file: never committed")
            )
        elif change.untracked:
            staged, reason = _untracked_reason(path, dvc, git_root)
            plan.decisions.append(PathDecision(path, kind, staged, reason))
        else:
            reason = "staged already" if kind == "staged" else f"tracked file, {kind}"
            plan.decisions.append(PathDecision(path, kind, True, reason))
    return plan


def stage(git_root: Path, paths: list[str]) -> None:
    """``git add -A`` exactly ``paths`` (deletions included), taken literally."""
    if paths:
        git_output(
            git_root,
            ["--literal-pathspecs", "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"],
            stdin=nul_paths(paths),
        )

"""Checks of what git holds: no DVC-tracked output in git, no large file that should be
DVC's."""

from __future__ import annotations

from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check


def _under(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f"{f}/") for f in folders)


@check("git.outputs-not-in-git", "DVC-tracked outputs not also tracked by git")
def outputs_not_in_git(context: Context) -> list[Problem]:
    cached = context.cached_outputs
    return [
        Problem(
            f"{path} is tracked by both DVC and git: git holds a second, stale copy",
            path,
            f"git rm -r --cached '{path}' and commit (the file stays in the workspace)",
            "fail",
        )
        for path in context.tracked_files
        if _under(path, cached)
    ]


@check("git.large-tracked", "no large files tracked by git that should be in DVC")
def large_tracked(context: Context) -> list[Problem]:
    problems = []
    for path in context.tracked_files:
        size = context.size(path)
        if size > context.large_file_bytes and not path.startswith(".dvc/"):
            problems.append(
                Problem(
                    f"{path} ({size} bytes) is in git: every version stays in every clone",
                    path,
                    f"git rm --cached '{path}', then 'dvc add {path}' and commit",
                )
            )
    return problems


@check("git.large-untracked", "no large untracked files that should be 'dvc add'ed")
def large_untracked(context: Context) -> list[Problem]:
    problems = []
    for path in context.untracked_files:
        size = context.size(path)
        if size > context.large_file_bytes:
            problems.append(
                Problem(
                    f"{path} ({size} bytes) is neither in DVC nor ignored",
                    path,
                    f"dvc add '{path}' (or ignore it in .gitignore)",
                )
            )
    return problems

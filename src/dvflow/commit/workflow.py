"""``dvflow commit``: refuse a stale pipeline, stage what belongs, commit, bind the
runs that recorded this state, push DVC then git."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dvflow.commit.binding import Binding, bind_runs
from dvflow.commit.push import Push, push_all
from dvflow.commit.staging import DvcKnowledge, StagingPlan, plan_staging, stage
from dvflow.errors import DvflowError, NotAProjectError, ProjectInputError, one_line
from dvflow.project import working_directory
from dvflow.snapshot.gitindex import git_output, run_git
from dvflow.workspace import Workspace

# A stage with `always_changed: true` is never up to date: not a reason to refuse.
_ALWAYS_CHANGED = "always changed"


class StalePipelineError(ProjectInputError):
    """The pipeline's recorded state does not match the working tree."""

    def __init__(self, stale: dict[str, str]) -> None:
        listed = "; ".join(f"{name} ({why})" for name, why in sorted(stale.items()))
        super().__init__(
            f"the pipeline is not up to date: {listed}. Run 'dvflow repro' (or "
            "'dvflow commit --repro'), or 'dvc add' changed data, then commit again."
        )


class CommitError(DvflowError):
    """Nothing to commit, or git refused the commit."""


@dataclass(frozen=True)
class CommitOptions:
    """What ``dvflow commit`` is asked."""

    message: str
    push: bool = False
    repro: bool = False


@dataclass
class CommitResult:
    """What ``dvflow commit`` did."""

    plan: StagingPlan
    commit: str | None = None
    tree: str | None = None
    binding: Binding | None = None
    push: Push | None = None
    repro_run_id: str | None = None
    # A failure after the commit was made (binding runs): the commit stays.
    binding_error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _describe(changes: object) -> str:
    # Repo.status(): {stage: [{"changed deps": {path: status}}, "always changed", ...]}
    parts: list[str] = []
    for item in changes if isinstance(changes, list) else [changes]:
        if isinstance(item, dict):
            for what, paths in item.items():
                names = ", ".join(paths) if isinstance(paths, dict) else str(paths)
                parts.append(f"{what}: {names}")
        else:
            parts.append(str(item))
    return "; ".join(parts)


def stale_stages(status: dict[str, object]) -> dict[str, str]:
    """The stages (and ``.dvc`` files) DVC's ``Repo.status()`` reports, with why."""
    return {
        name: _describe(changes) for name, changes in status.items() if changes != [_ALWAYS_CHANGED]
    }


def _head(git_root: Path) -> tuple[str, str]:
    out = git_output(git_root, ["rev-parse", "HEAD", "HEAD^{tree}"]).decode().split()
    return out[0], out[1]


def commit_project(options: CommitOptions, start: Path | None = None) -> CommitResult:
    """Commit the project's code, params, ``dvc.lock`` and ``.dvc`` files together.

    Args:
        options: the message, and whether to run ``dvflow repro`` first and push after.
        start: a folder inside the project (default: the current one).

    Returns:
        What was staged and left out, the commit (None when nothing was left to
        commit: the push still happens), the runs bound to it, the push.

    Raises:
        NotAProjectError: not inside a DVC project in a git repository.
        StalePipelineError: ``dvc status`` is not clean (nothing is staged).
        CommitError: user-staged DVC data, or git refused the commit.
        PushError: ``dvc push`` failed (git got nothing) or ``git push`` failed.
    """
    workspace = Workspace.find(start, require_dvc=True)
    project = workspace.project
    if project.git_root is None:
        raise NotAProjectError(str(project.root))
    git_root = project.git_root
    repro_run_id = None
    if options.repro:
        from dvflow.repro.options import ReproOptions
        from dvflow.repro.pipeline import reproduce

        repro_run_id = reproduce(ReproOptions(), start=project.root).parent_run_id
    from dvc.repo import Repo

    with working_directory(project.root), Repo(str(project.root)) as repo:
        stale = stale_stages(repo.status())
        if stale:
            raise StalePipelineError(stale)
        plan = plan_staging(git_root, DvcKnowledge.of(repo, git_root))
        result = CommitResult(plan, repro_run_id=repro_run_id)
        if plan.refused:
            paths = " ".join(d.path for d in plan.refused)
            raise CommitError(
                f"DVC-tracked data is staged in git: {paths}. Unstage it with "
                f"'git restore --staged {paths}', then commit again."
            )
        stage(git_root, plan.to_stage)
        nothing_staged = run_git(git_root, ["diff", "--cached", "--quiet"]).returncode == 0
        if not nothing_staged:
            made = run_git(git_root, ["commit", "-q", "-m", options.message])
            if made.returncode != 0:
                why = one_line((made.stderr or made.stdout).decode(errors="replace"), last=True)
                raise CommitError(
                    f"git commit failed ({why}); what dvflow staged is still staged. "
                    "Fix it and run 'dvflow commit' again."
                )
            result.commit, result.tree = _head(git_root)
            try:
                result.binding = bind_runs(workspace, git_root, result.commit, result.tree)
            except Exception as exc:  # the commit is made: report, never undo it
                result.binding_error = getattr(exc, "message", None) or one_line(exc)
        if options.push:
            result.push = push_all(repo, git_root)
    return result

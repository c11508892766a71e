"""Check of the DVC remote: configured, and holding what the current commit needs."""

from __future__ import annotations

from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check
from dvflow.errors import one_line


@check("dvc.remote", "a DVC remote configured and holding what the commit needs")
def remote(context: Context) -> list[Problem]:
    repo = context.repo
    if repo is None:
        return []
    remotes = dict(repo.config.get("remote", {}))
    default = repo.config.get("core", {}).get("remote")
    if not remotes:
        # A project that is only local has nowhere to push either; one with a git
        # remote would publish commits whose data nobody else can pull.
        has_git_remote = bool(context.git("remote")[1].split())
        return [
            Problem(
                "no DVC remote: commits pushed to git point at data only this clone has"
                if has_git_remote
                else "no DVC remote yet (nor a git remote): add one before sharing",
                ".dvc/config",
                "dvc remote add -d NAME URL",
                "warn" if has_git_remote else "info",
            )
        ]
    if not default:
        return [
            Problem(
                f"DVC remotes ({', '.join(sorted(remotes))}) but no default one: "
                "'dvc push' does not know where to push",
                ".dvc/config",
                "dvc remote default NAME",
            )
        ]
    try:
        missing = repo.status(cloud=True)
    except Exception as exc:  # an unreachable remote, missing credentials
        return [
            Problem(
                f"cannot compare with DVC remote '{default}': {one_line(exc)}",
                ".dvc/config",
                "check the remote's URL and credentials ('dvc remote list', 'dvc status -c')",
            )
        ]
    if not missing:
        return []
    return [
        Problem(
            f"DVC remote '{default}' lacks {len(missing)} file(s) the workspace needs, "
            f"e.g. {sorted(missing)[0]}",
            f"remote '{default}'",
            "dvc push (or 'dvflow commit --push')",
        )
    ]

"""Checks of the pipeline: scripts in deps, dvc.lock committed and up to date, metrics
and plots kept in git."""

from __future__ import annotations

from pathlib import Path

from dvflow.commit.workflow import stale_stages
from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check
from dvflow.doctor.scripts import stage_scripts


@check("pipeline.scripts-in-deps", "stage scripts listed in their stage's deps")
def scripts_in_deps(context: Context) -> list[Problem]:
    problems = []
    for stage in context.stages:
        deps = [context.rel(d.fs_path) for d in stage.deps if getattr(d, "is_in_repo", False)]
        for script in stage_scripts(context, stage):
            if not any(script == d or script.startswith(f"{d}/") for d in deps):
                problems.append(
                    Problem(
                        f"stage '{stage.addressing}' runs {script} without listing it in its "
                        "deps: a change to it would not re-run the stage",
                        context.rel(stage.dvcfile.path),
                        f"add {script} to the deps of '{stage.addressing}'",
                    )
                )
    return problems


@check("pipeline.lock", "dvc.lock committed and up to date")
def lock(context: Context) -> list[Problem]:
    if context.repo is None or context.git_root is None:
        return []
    problems = []
    dvcfiles = sorted({Path(s.dvcfile.path) for s in context.stages if getattr(s, "cmd", None)})
    ran = False
    for dvcfile in dvcfiles:
        lockfile = context.rel(dvcfile.with_suffix(".lock"))
        in_git = context.rel(dvcfile.with_suffix(".lock"), context.git_root)
        if not dvcfile.with_suffix(".lock").is_file():
            problems.append(
                Problem(
                    "the pipeline has not run yet",
                    lockfile,
                    "run 'dvflow repro', then 'dvflow commit'",
                    "info",
                )
            )
            continue
        ran = True
        if context.git("check-ignore", "-q", "--no-index", in_git)[0] == 0:
            problems.append(
                Problem(
                    f"{lockfile} is ignored by git: no commit records the pipeline's state",
                    lockfile,
                    f"remove the pattern that ignores it ('git check-ignore -v {in_git}')",
                    "fail",
                )
            )
        elif context.git("ls-files", "--error-unmatch", "--", in_git)[0] != 0:
            problems.append(
                Problem(
                    f"{lockfile} is not committed",
                    lockfile,
                    "commit it with the code and params that made it: 'dvflow commit'",
                )
            )
        elif context.git("diff", "--quiet", "HEAD", "--", in_git)[0] != 0:
            problems.append(
                Problem(
                    f"{lockfile} changed since the last commit",
                    lockfile,
                    "commit it with the code and params that made it: 'dvflow commit'",
                )
            )
    if ran:
        stale = stale_stages(context.repo.status())
        for name, why in sorted(stale.items()):
            problems.append(
                Problem(
                    f"'{name}' is not up to date ({why})",
                    name,
                    "run 'dvflow repro' (or 'dvc add' changed data), then 'dvflow commit'",
                )
            )
    return problems


@check("pipeline.results-in-git", "metrics and plots declared with cache: false")
def results_in_git(context: Context) -> list[Problem]:
    return [
        Problem(
            f"{'metrics' if out.metric else 'plots'} file {context.rel(out.fs_path)} of stage "
            f"'{stage.addressing}' is kept in DVC's cache: 'dvc metrics diff' and 'dvc plots "
            "diff' then need a 'dvc pull' for every commit",
            context.rel(stage.dvcfile.path),
            f"declare it with 'cache: false' in the stage's {'metrics' if out.metric else 'plots'}",
        )
        for stage in context.stages
        for out in stage.outs
        if (out.metric or out.plot) and out.use_cache
    ]

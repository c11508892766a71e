"""Checks of the project's layout: code in src/, notebooks in notebooks/, params.yaml."""

from __future__ import annotations

from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check
from dvflow.doctor.scripts import stage_scripts


@check("layout.src-and-notebooks", "pipeline code in src/, notebooks in notebooks/")
def src_and_notebooks(context: Context) -> list[Problem]:
    problems = []
    if context.git_root is None:
        return []
    files = [context.rel(context.git_root / p) for p in context.tracked_files]
    files += [context.rel(context.git_root / p) for p in context.untracked_files]
    for path in sorted(files):
        if path.startswith("src/") and path.endswith(".ipynb"):
            problems.append(
                Problem(
                    "a notebook inside src/: src/ holds the pipeline's code",
                    path,
                    "move it to notebooks/",
                )
            )
    for stage in context.stages:
        for script in stage_scripts(context, stage):
            if script.startswith("notebooks/"):
                problems.append(
                    Problem(
                        f"stage '{stage.addressing}' runs code from notebooks/: {script}",
                        context.rel(stage.dvcfile.path),
                        "move the code to src/ and run it from there",
                    )
                )
    has_python = any(p.endswith(".py") and not p.startswith("tests/") for p in files)
    if has_python and not (context.root / "src").is_dir():
        problems.append(
            Problem(
                "no src/ folder: the pipeline's code is mixed with everything else",
                ".",
                "move the stages' code to src/ (run it as 'python -m src.<module>')",
            )
        )
    return problems


@check("layout.params-file", "params.yaml present")
def params_file(context: Context) -> list[Problem]:
    if (context.root / "params.yaml").is_file():
        return []
    return [
        Problem(
            "no params.yaml: parameters hard-coded in scripts are neither tracked nor recorded",
            "params.yaml",
            "create params.yaml and list its keys in the stages' params in dvc.yaml",
        )
    ]

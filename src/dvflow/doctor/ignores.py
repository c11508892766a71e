"""Checks of the ignore files: .gitignore keeps environments and the local MLflow store
out of git, .dvcignore exists. Both are repaired by ``--fix``."""

from __future__ import annotations

from pathlib import Path

from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check

# What .gitignore must cover, as patterns to append when it does not.
GIT_IGNORED = (".venv/", "venv/", "mlflow.db", "mlartifacts/")


def _environments(root: Path) -> list[str]:
    # Any virtual environment at the top of the project, whatever its name.
    return sorted(
        f"{child.name}/"
        for child in root.iterdir()
        if child.is_dir() and (child / "pyvenv.cfg").is_file()
    )


def _uncovered(context: Context) -> list[str]:
    if context.git_root is None:
        return []
    missing = []
    prefix = context.rel(context.root, context.git_root)
    prefix = "" if prefix == "." else f"{prefix}/"
    for pattern in dict.fromkeys((*GIT_IGNORED, *_environments(context.root))):
        code, out = context.git("check-ignore", "-v", "--no-index", "--", prefix + pattern)
        source = out.split(":", 1)[0]
        pattern_hit = out.split(":", 2)[2].split("\t", 1)[0] if out.count(":") >= 2 else ""
        # Only a committed .gitignore protects every clone: not .git/info/exclude
        # (where dvflow lists the store for this clone) nor a global excludes file.
        if code != 0 or pattern_hit.startswith("!") or not source.endswith(".gitignore"):
            missing.append(pattern)
    return missing


def _fix_gitignore(context: Context) -> list[str]:
    missing = _uncovered(context)
    if not missing:
        return []
    path = context.root / ".gitignore"
    text = path.read_text() if path.is_file() else ""
    lead = "" if not text or text.endswith("\n") else "\n"
    block = "# Virtual environments and the local MLflow store (added by dvflow doctor --fix)\n"
    path.write_text(text + lead + block + "".join(f"{p}\n" for p in missing))
    return [f".gitignore: appended {', '.join(missing)}"]


@check(
    "ignore.gitignore",
    ".gitignore covers the virtual environment, mlflow.db and mlartifacts/",
    repair=_fix_gitignore,
)
def gitignore(context: Context) -> list[Problem]:
    return [
        Problem(
            f".gitignore does not cover {pattern}",
            ".gitignore",
            f"add '{pattern}' to .gitignore (dvflow doctor --fix does)",
        )
        for pattern in _uncovered(context)
    ]


def _fix_dvcignore(context: Context) -> list[str]:
    path = context.root / ".dvcignore"
    if path.exists() or not context.project.has_dvc:
        return []
    from dvflow.apps.template import template_file

    path.write_bytes(template_file(".dvcignore"))
    return [".dvcignore: created (dvflow's template)"]


@check("ignore.dvcignore", ".dvcignore present", repair=_fix_dvcignore)
def dvcignore(context: Context) -> list[Problem]:
    if not context.project.has_dvc or (context.root / ".dvcignore").is_file():
        return []
    return [
        Problem(
            "no .dvcignore: DVC walks caches and editor files it never needs",
            ".dvcignore",
            "create it (dvflow doctor --fix writes dvflow's template)",
        )
    ]

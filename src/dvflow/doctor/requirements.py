"""Check of requirements.txt: present, and every requirement pinned. ``--fix`` pins the
versions installed where it runs."""

from __future__ import annotations

from importlib import metadata

from dvflow.apps.requirements import dependency_files
from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check

REQUIREMENTS = "requirements.txt"


def _unpinned(line: str) -> str | None:
    """The requirement's name when ``line`` is an unpinned requirement, else None."""
    from packaging.requirements import InvalidRequirement, Requirement

    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("#", "-")):
        return None  # comments, -r/-c/-e and pip options
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    if requirement.url or any(s.operator in ("==", "===") for s in requirement.specifier):
        return None
    return requirement.name


def _pinned(line: str) -> str | None:
    """``line`` pinned to the installed version, or None if it is not installed."""
    from packaging.requirements import Requirement

    text, _, comment = line.partition(" #")
    requirement = Requirement(text.strip())
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return None
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return f"{requirement.name}{extras}=={version}{marker}" + (f"  #{comment}" if comment else "")


def _fix_pins(context: Context) -> list[str]:
    path = context.root / REQUIREMENTS
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    changed = []
    for i, line in enumerate(lines):
        if _unpinned(line) is not None:
            pinned = _pinned(line)
            if pinned is not None:
                lines[i] = pinned
                changed.append(f"{REQUIREMENTS}: {line.strip()} -> {pinned}")
    if changed:
        path.write_text("\n".join(lines) + "\n")
    return changed


@check("env.requirements", "requirements.txt present and pinned", repair=_fix_pins)
def requirements(context: Context) -> list[Problem]:
    path = context.root / REQUIREMENTS
    if not path.is_file():
        elsewhere = dependency_files(context.root)
        if elsewhere:
            return [
                Problem(
                    f"dependencies are declared in {', '.join(elsewhere)}",
                    ", ".join(elsewhere),
                    None,
                    "info",
                )
            ]
        return [
            Problem(
                "no requirements.txt: the environment a run needs cannot be rebuilt",
                REQUIREMENTS,
                "pip freeze the packages the pipeline imports into requirements.txt",
            )
        ]
    return [
        Problem(
            f"{name} is not pinned: a later install may give different results",
            f"{REQUIREMENTS}:{number}",
            f"pin it ({name}==<version>; dvflow doctor --fix pins the installed one)",
        )
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if (name := _unpinned(line)) is not None
    ]

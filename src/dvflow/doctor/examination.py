"""Running every registered check on a project, repairing what is safe with ``fix``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvflow.doctor import files, ignores, layout, params, pipeline, remote, requirements, store
from dvflow.doctor.context import Context
from dvflow.doctor.registry import CHECKS, STATUS_OF, Check, Problem
from dvflow.errors import one_line
from dvflow.workspace import Workspace

# Registered by importing them; listed so that the order of the report is stable.
CHECK_MODULES = (layout, params, pipeline, files, ignores, requirements, remote, store)
_RANK = {"pass": 0, "warn": 1, "fail": 2}


@dataclass
class CheckResult:
    """One check's result: ``pass``, ``warn`` or ``fail``, its problems, what ``--fix``
    changed."""

    name: str
    summary: str
    status: str
    problems: list[Problem] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "name": self.name,
            "summary": self.summary,
            "status": self.status,
            "problems": [p.__dict__ for p in self.problems],
            "fixed": self.fixed,
        }


@dataclass
class DoctorReport:
    """Every check's result, and the versions ``dvc doctor`` shows."""

    project: Path
    versions: str
    results: list[CheckResult]

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that failed."""
        return [r for r in self.results if r.status == "fail"]

    @property
    def warned(self) -> list[CheckResult]:
        """The checks that warned."""
        return [r for r in self.results if r.status == "warn"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "project": str(self.project),
            "versions": self.versions,
            "checks": [r.to_dict() for r in self.results],
            "summary": {s: sum(r.status == s for r in self.results) for s in _RANK},
        }


def _status(problems: list[Problem]) -> str:
    return max((STATUS_OF[p.severity] for p in problems), key=_RANK.__getitem__, default="pass")


def _run(entry: Check, context: Context) -> list[Problem]:
    try:
        return entry.run(context)
    except Exception as exc:  # one broken check must not hide the others
        return [
            Problem(
                f"the check could not run: {type(exc).__name__}: {one_line(exc)}",
                None,
                "fix what the message says, or run 'dvflow --verbose doctor'",
                "fail",
            )
        ]


def _versions() -> str:
    from dvflow import __version__
    from dvflow.integrations.dvc_internals import dvc_info

    try:
        from importlib.metadata import version

        mlflow = version("mlflow")
    except Exception:
        mlflow = "not installed"
    return f"dvflow version: {__version__}\nMLflow version: {mlflow}\n{dvc_info()}"


def registered_checks() -> list[Check]:
    """Every registered check, grouped in the order of ``CHECK_MODULES``."""
    order = {module.__name__: rank for rank, module in enumerate(CHECK_MODULES)}
    checks = list(CHECKS.values())
    return sorted(checks, key=lambda c: (order.get(c.run.__module__, len(order)), checks.index(c)))


def run_doctor(
    start: Path | None = None, *, fix: bool = False, names: list[str] | None = None
) -> DoctorReport:
    """Check the project holding ``start`` (default: the current folder).

    Args:
        start: a folder inside the project.
        fix: repair what is safe to repair (ignore files, pins), then check again.
        names: only these checks (default: every registered one).

    Returns:
        Every check's result, in registration order, with the versions.

    Raises:
        NotAProjectError: ``start`` is in no git repository or DVC project.
    """
    workspace = Workspace.find(start)
    context = Context(workspace)
    results = []
    try:
        for entry in registered_checks():
            if names is not None and entry.name not in names:
                continue
            problems = _run(entry, context)
            fixed: list[str] = []
            if fix and entry.repair is not None and any(p.severity != "info" for p in problems):
                fixed = entry.repair(context)
                if fixed:
                    problems = _run(entry, context)
            results.append(
                CheckResult(entry.name, entry.summary, _status(problems), problems, fixed)
            )
        versions = _versions()
    finally:
        context.close()
    return DoctorReport(workspace.project.root, versions, results)

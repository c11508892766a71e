"""The one registry of ``dvflow doctor``'s checks: a new check is one decorated function.

A check looks at the project through a ``Context`` and returns its problems (none:
it passes). A check that can be repaired safely names a ``repair`` function, which
changes only what is safe (ignore files, pins) and says what it changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from dvflow.doctor.context import Context

Severity = Literal["info", "warn", "fail"]
# What a check's problems make of its result: the worst of them ("info" passes).
STATUS_OF: dict[str, str] = {"info": "pass", "warn": "warn", "fail": "fail"}


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong, where, and how to fix it.

    ``info`` findings are notes on a passing check (a pipeline not run yet).
    """

    message: str
    location: str | None = None
    fix: str | None = None
    severity: Severity = "warn"


CheckFunction = Callable[["Context"], list[Problem]]
RepairFunction = Callable[["Context"], list[str]]


@dataclass(frozen=True)
class Check:
    """A registered check."""

    name: str
    summary: str
    run: CheckFunction
    repair: RepairFunction | None = None


CHECKS: dict[str, Check] = {}


def check(
    name: str, summary: str, *, repair: RepairFunction | None = None
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check ``name`` (in definition order).

    Example:
        >>> @check("example.always-passes", "an example")
        ... def always_passes(context):
        ...     return []
        >>> CHECKS.pop("example.always-passes").summary
        'an example'
    """

    def register(func: CheckFunction) -> CheckFunction:
        if name in CHECKS:
            raise ValueError(f"two doctor checks are named {name!r}")
        CHECKS[name] = Check(name, summary, func, repair)
        return func

    return register

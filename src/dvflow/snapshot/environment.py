"""The environment part of a snapshot: interpreter, platform, installed distributions.

Distributions are read from the standard library's metadata (no ``pip`` subprocess).
Environment variables are recorded only for the tools' own prefixes, never those whose
names look secret, and never a credential inside a URL.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvflow.snapshot.redact import redact_text, safe_variables

RECORDED_PREFIXES = (
    "DVC_",
    "MLFLOW_",
    "DVFLOW_",
    "CUDA_",
    "PYTHONHASHSEED",
    "VIRTUAL_ENV",
    "CONDA_DEFAULT_ENV",
    "OMP_NUM_THREADS",
)
REQUIREMENTS_FILE = "requirements.txt"


@dataclass(frozen=True)
class Environment:
    """The software environment of one moment."""

    python: str
    implementation: str
    platform: str
    executable: str
    packages: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    requirements: str | None = None

    @classmethod
    def unread(cls) -> Environment:
        """An environment not read yet: the process that records the snapshot reads its
        own (the same interpreter), so the one that runs DVC does not pay for it."""
        return cls(python="", implementation="", platform="", executable="")

    def version_of(self, name: str) -> str | None:
        """The installed version of distribution ``name``, if any."""
        return self.packages.get(name.lower())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return dict(self.__dict__)


def installed_packages() -> dict[str, str]:
    """Every installed distribution, lower-case name to version."""
    from importlib.metadata import distributions

    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(name.lower(), dist.version)
    return dict(sorted(found.items()))


def read_environment(root: Path | None = None) -> Environment:
    """Read the current interpreter's environment; ``requirements.txt`` from ``root``."""
    requirements = None
    if root is not None and (root / REQUIREMENTS_FILE).is_file():
        # An index URL or a VCS requirement may carry a token.
        requirements = redact_text(
            (root / REQUIREMENTS_FILE).read_text(encoding="utf-8", errors="replace")
        )
    return Environment(
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        executable=sys.executable,
        packages=installed_packages(),
        variables=safe_variables(os.environ, RECORDED_PREFIXES),
        requirements=requirements,
    )

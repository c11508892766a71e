"""The requirements a dvflow project declares, written so that ``pip`` can install them.

dvflow itself is pinned the way it was installed here: from a package index as
``dvflow==X``, from git as ``dvflow @ git+URL@commit``. Installed from a local folder
or file (a checkout, a wheel), it has no requirement another machine could install:
``requirements.txt`` then says in a comment where it came from instead of naming a
version no index has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dvflow.snapshot.redact import strip_credentials

# What any dvflow project needs; then what the starter pipeline imports (see
# templates/README.md).
CORE_DISTRIBUTIONS = ("dvflow", "dvc", "mlflow")
STARTER_DISTRIBUTIONS = (*CORE_DISTRIBUTIONS, "scikit-learn", "pandas", "matplotlib", "pytest")

# Files in which a project declares its dependencies itself (besides requirements.txt).
_DEPENDENCY_FILES = ("setup.py", "setup.cfg", "Pipfile", "environment.yml", "environment.yaml")
_REQUIREMENTS_GLOBS = ("requirements*.txt", "requirements*.in", "requirements/*.txt")


@dataclass(frozen=True)
class Requirement:
    """How ``pip`` installs one distribution on another machine.

    Attributes:
        name: the distribution's name.
        line: the requirement line, or None when only this machine has its source.
        source: where it was installed from here, when that was not a package index.
    """

    name: str
    line: str | None
    source: str | None = None


def requirement_from_origin(name: str, version: str | None, origin: Any) -> Requirement:
    """The requirement for a distribution installed from ``origin``.

    ``origin`` is its PEP 610 ``direct_url.json`` (None when it came from an index).

    >>> requirement_from_origin("dvflow", "0.1.0", None).line
    'dvflow==0.1.0'
    >>> requirement_from_origin("dvflow", "0.1.0", {"url": "https://github.com/o/dvflow",
    ...     "vcs_info": {"vcs": "git", "commit_id": "abc123"}}).line
    'dvflow @ git+https://github.com/o/dvflow@abc123'
    >>> requirement_from_origin("dvflow", "0.1.0", {"url": "file:///src/dvflow",
    ...     "dir_info": {"editable": True}})
    Requirement(name='dvflow', line=None, source='/src/dvflow')
    """
    if not isinstance(origin, dict) or not isinstance(origin.get("url"), str):
        return Requirement(name, f"{name}=={version}" if version else name)
    url = strip_credentials(origin["url"])
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        return Requirement(name, f"{name} @ {vcs['vcs']}+{url}{f'@{revision}' if revision else ''}")
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"}:
        return Requirement(name, f"{name} @ {url}", url)
    # A local folder or file: another machine (or a container) cannot reach it.
    return Requirement(name, None, unquote(parts.path) if parts.scheme == "file" else url)


def installed_requirement(name: str) -> Requirement:
    """The requirement of ``name`` as installed here (just ``name`` if it is not)."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return Requirement(name, name)
    try:
        origin = json.loads(distribution.read_text("direct_url.json") or "null")
    except ValueError:
        origin = None
    return requirement_from_origin(name, distribution.version, origin)


def requirements_text(names: Iterable[str]) -> str:
    """The lines of ``requirements.txt`` for ``names``, with a comment for any that only
    this machine can install."""
    requirements = [installed_requirement(name) for name in names]
    lines = [r.line for r in requirements if r.line]
    for local in (r for r in requirements if r.line is None):
        lines += [
            f"# {local.name} is not listed: it was installed here from {local.source}, which",
            "# no package index has. Install it from there first (or from a wheel or sdist",
            f"# built from it): pip install {local.source}",
        ]
    return "\n".join(lines)


def how_to_add(requirement: Requirement) -> str:
    """``requirement`` as a user should add it to their own dependency list."""
    if requirement.line:
        return requirement.line
    return f"{requirement.name} (installed here from {requirement.source})"


def dependency_files(root: Path) -> list[str]:
    """The files other than requirements.txt in which the project at ``root`` declares
    its dependencies (``pyproject.toml`` only when it lists some)."""
    found = [name for name in _DEPENDENCY_FILES if (root / name).is_file()]
    for pattern in _REQUIREMENTS_GLOBS:
        found += [
            path.relative_to(root).as_posix()
            for path in sorted(root.glob(pattern))
            if path.is_file() and path != root / "requirements.txt"
        ]
    if _pyproject_declares_dependencies(root / "pyproject.toml"):
        found.insert(0, "pyproject.toml")
    return sorted(set(found), key=found.index)


def read_toml(path: Path) -> dict[str, Any] | None:
    """The TOML file at ``path`` as plain data; None if it is missing or unreadable."""
    from dvflow.integrations.dvc_internals import read_toml_file

    return read_toml_file(path)


def _pyproject_declares_dependencies(path: Path) -> bool:
    data = read_toml(path) or {}
    poetry = data.get("tool", {}).get("poetry", {})
    return bool(
        data.get("project", {}).get("dependencies")
        or data.get("dependency-groups")
        or (isinstance(poetry, dict) and poetry.get("dependencies"))
    )


def lacking(texts: Iterable[str], names: Iterable[str]) -> Iterator[Requirement]:
    """The requirements of ``names`` that none of ``texts`` mentions as a requirement."""
    joined = "\n".join(texts).lower()
    for name in names:
        # A name at the start of a line, or quoted (pyproject.toml, setup.py).
        if not re.search(rf"(^\s*|[\"']){re.escape(name)}\b", joined, re.M):
            yield installed_requirement(name)

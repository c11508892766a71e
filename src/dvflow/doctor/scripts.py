"""Which project files a stage's command runs (``python src/x.py``, ``python -m src.x``,
``Rscript a.R``, ``bash run.sh``)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dvc.stage import Stage

    from dvflow.doctor.context import Context

SCRIPT_SUFFIXES = (".py", ".R", ".r", ".jl", ".sh", ".bash", ".ipynb", ".pl", ".rb")


def _commands(stage: Stage) -> list[str]:
    cmd = getattr(stage, "cmd", None)
    if not cmd:
        return []
    return [cmd] if isinstance(cmd, str) else [str(c) for c in cmd]


def stage_scripts(context: Context, stage: Stage) -> list[str]:
    """The files of the project a stage's command runs, relative to the project root."""
    wdir = Path(getattr(stage, "wdir", context.root))
    found: list[str] = []
    for command in _commands(stage):
        try:
            tokens = shlex.split(command)
        except ValueError:
            continue
        for i, token in enumerate(tokens):
            candidates = []
            if token.endswith(SCRIPT_SUFFIXES):
                candidates.append(wdir / token)
            elif token == "-m" and i + 1 < len(tokens):
                module = Path(*tokens[i + 1].split("."))
                candidates += [wdir / f"{module}.py", wdir / module / "__main__.py"]
            for path in candidates:
                if path.is_file() and path.resolve().is_relative_to(context.root.resolve()):
                    found.append(context.rel(path.resolve(), context.root.resolve()))
                    break
    return sorted(set(found))

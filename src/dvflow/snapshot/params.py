"""The params part of a snapshot, exactly as DVC resolves them, flattened with dots."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import DvflowWarning
from dvflow.integrations.dvc_internals import is_params_dependency, read_params_file

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

DEFAULT_PARAMS_FILE = "params.yaml"


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys; lists and scalars are kept as values.

    >>> flatten({"train": {"lr": 0.1, "layers": [8, 4]}})
    {'train.lr': 0.1, 'train.layers': [8, 4]}
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _merge(into: dict[str, Any], values: dict[str, Any], source: str) -> None:
    for key, value in values.items():
        if key in into and into[key] != value:
            warnings.warn(
                f"param '{key}' has different values in several params files; "
                f"the one from {source} is recorded",
                DvflowWarning,
                stacklevel=3,
            )
        into[key] = value


def _params_deps(stage: Stage) -> list[Any]:
    return [dep for dep in stage.deps if is_params_dependency(dep)]


def stage_params(stage: Stage) -> dict[str, Any]:
    """The params one stage depends on, flattened: ``{"train.lr": 0.1}``.

    Keys listed in ``dvc.yaml`` are read from their files; a whole-file dependency
    brings every key of that file. Values come from the files as they are now.
    """
    flat: dict[str, Any] = {}
    for dep in _params_deps(stage):
        _merge(flat, flatten(dep.read_params(flatten=True)), str(dep))
    return flat


def params_files(repo: Repo, stages: Iterable[Stage] | None = None) -> list[Path]:
    """Every params file the pipeline reads, plus ``params.yaml`` when it exists."""
    root = Path(repo.root_dir)
    files = {
        Path(dep.fs_path) for stage in (stages or repo.index.stages) for dep in _params_deps(stage)
    }
    default = root / DEFAULT_PARAMS_FILE
    if default.is_file():
        files.add(default)
    return sorted(f for f in files if f.is_file())


def project_params(repo: Repo, stages: Iterable[Stage] | None = None) -> dict[str, Any]:
    """All keys of every params file of the pipeline, flattened and merged."""
    flat: dict[str, Any] = {}
    for path in params_files(repo, stages):
        values = read_params_file(repo, path)
        if isinstance(values, Mapping):
            _merge(flat, flatten(values), path.name)
    return flat


def _deep_merge(into: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def project_params_nested(repo: Repo) -> dict[str, Any]:
    """Every params file of the pipeline, merged into one nested mapping, as a script
    outside any stage wants them (``params["train"]["lr"]``).

    Not ``dvc.api.params_show()``: without a stage it also picks up any stray file
    named ``params.yaml`` in the workspace (say, an artifact copy under ``mlruns/``)
    and then prefixes every key with its file.
    """
    merged: dict[str, Any] = {}
    for path in params_files(repo):
        values = read_params_file(repo, path)
        if isinstance(values, Mapping):
            _deep_merge(merged, values)
    return merged

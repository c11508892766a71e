"""The data part of a snapshot: every DVC-tracked path with the hash DVC recorded.

Versions come from DVC's own loaders (``dvc.repo.Repo.index``), which read ``dvc.lock``
and ``.dvc`` files. Nothing is hashed here: reading the versions of a 10 GB dataset
costs the same as for 10 KB.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.integrations.dvc_internals import is_params_dependency
from dvflow.snapshot.redact import strip_credentials

if TYPE_CHECKING:
    from dvc.output import Output
    from dvc.repo import Repo
    from dvc.stage import Stage


@dataclass(frozen=True)
class DataVersion:
    """One DVC-tracked path as DVC last recorded it.

    Attributes:
        path: the path relative to the project root, with forward slashes.
        role: ``dep`` or ``out``.
        stage: the address of the stage (``train``, ``sub/dvc.yaml:train``) or the
            ``.dvc`` file that records it.
        hash: DVC's hash (``.dir`` suffix for folders); None if never recorded.
        hash_name: the hash algorithm, usually ``md5``.
        size: bytes, where DVC recorded it.
        nfiles: number of files of a folder.
        remote: the URL of the DVC remote the data is pushed to, credentials stripped.
        tracked: whether DVC keeps the content in its cache (data), rather than git
            (source files a stage depends on, metrics files with ``cache: false``).
    """

    path: str
    role: str
    stage: str
    hash: str | None
    hash_name: str | None
    size: int | None
    nfiles: int | None
    remote: str | None
    tracked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return dict(self.__dict__)


def _remote_url(repo: Repo, name: str | None) -> str | None:
    name = name or repo.config["core"].get("remote")
    if not name:
        return None
    url = repo.config["remote"].get(name, {}).get("url")
    return strip_credentials(str(url)) if url else None


def _relpath(repo: Repo, item: Output) -> str:
    fs_path = getattr(item, "fs_path", None)
    if item.is_in_repo and fs_path:
        return Path(os.path.relpath(fs_path, repo.root_dir)).as_posix()
    # An imported URL may carry credentials.
    return strip_credentials(str(item.def_path))


def cached_paths(repo: Repo) -> set[str]:
    """The paths whose content DVC keeps in its cache: outputs of stages and ``.dvc``
    files, without ``cache: false``."""
    return {_relpath(repo, out) for out in repo.index.outs if getattr(out, "use_cache", False)}


def _is_under(path: str, folders: set[str]) -> bool:
    return path in folders or any(path.startswith(f"{folder}/") for folder in folders)


def _version(
    repo: Repo, stage: Stage, item: Output, role: str, cached: set[str] | None = None
) -> DataVersion:
    info = item.hash_info
    meta = item.meta
    path = _relpath(repo, item)
    if role == "out":
        tracked = bool(getattr(item, "use_cache", False))
    else:
        tracked = _is_under(path, cached if cached is not None else cached_paths(repo))
    return DataVersion(
        path=path,
        role=role,
        stage=stage.addressing,
        hash=info.value if info else None,
        hash_name=info.name if info else None,
        size=meta.size if meta else None,
        nfiles=meta.nfiles if meta else None,
        remote=_remote_url(repo, getattr(item, "remote", None)) if tracked else None,
        tracked=tracked,
    )


def stage_versions(
    repo: Repo,
    stage: Stage,
    *,
    deps: bool = True,
    outs: bool = True,
    cached: set[str] | None = None,
) -> list[DataVersion]:
    """The data versions of one stage, as its ``Stage`` object holds them.

    ``cached``: ``cached_paths(repo)`` if the caller has it (reading it builds DVC's
    index, which DVC drops after every stage it runs).
    """
    versions: list[DataVersion] = []
    if deps:
        cached = cached if cached is not None else cached_paths(repo)
        versions += [
            _version(repo, stage, dep, "dep", cached)
            for dep in stage.deps
            if not is_params_dependency(dep)
        ]
    if outs:
        versions += [_version(repo, stage, out, "out") for out in stage.outs]
    return versions


def produced_versions(repo: Repo) -> dict[str, DataVersion]:
    """The recorded version of every path that a stage or ``.dvc`` file outputs."""
    return {
        v.path: v
        for stage in repo.index.stages
        for v in stage_versions(repo, stage, deps=False)
        if v.hash
    }


def running_stage_versions(repo: Repo, stage: Stage) -> list[DataVersion]:
    """The dependency versions of a stage while it runs.

    DVC writes a stage's ``dvc.lock`` entry only after its command ends, so a running
    stage reads each dependency's version from what produced it (a ``.dvc`` file or an
    upstream stage, already recorded). A dependency nothing produces (a source file)
    gets the hash of its current content from DVC itself: DVC computed it to decide
    that the stage must run, and its state database returns it without reading the
    file again. The previous lock entry would be stale: it is what ran last time.
    """
    producers = produced_versions(repo)
    deps = [d for d in stage.deps if not is_params_dependency(d)]
    versions = []
    for dep, version in zip(deps, stage_versions(repo, stage, outs=False), strict=True):
        made = producers.get(version.path)
        if made is not None:
            version = replace(made, role="dep", stage=version.stage)
        elif dep.exists:
            info = dep.get_hash()
            version = replace(version, hash=info.value, hash_name=info.name)
        versions.append(version)
    return versions


def project_versions(repo: Repo, stages: Iterable[Stage] | None = None) -> list[DataVersion]:
    """Every tracked path of the project: outputs of stages and ``.dvc`` files, and the
    dependencies that no stage produces (raw inputs), each listed once."""
    stages = list(repo.index.stages if stages is None else stages)
    outs = [v for stage in stages for v in stage_versions(repo, stage, deps=False)]
    produced = {v.path for v in outs}
    deps: dict[str, DataVersion] = {}
    for stage in stages:
        for v in stage_versions(repo, stage, outs=False):
            if v.path not in produced:
                deps.setdefault(v.path, v)
    return sorted(outs + list(deps.values()), key=lambda v: (v.path, v.role))


def pipeline_written_paths(repo: Repo, relative_to: Path) -> list[str]:
    """The files DVC itself rewrites while a pipeline runs, relative to ``relative_to``
    (the git top level): every ``dvc.lock``, and the outputs of stages with a command
    (DVC deletes them before the stage runs; those with ``cache: false`` are in git).

    While a pipeline runs they say nothing about the code the user ran it from.
    """
    found: set[str] = set()
    for stage in repo.index.stages:
        dvcfile = Path(stage.dvcfile.path)
        if dvcfile.name.endswith(".yaml"):
            found.add(os.path.relpath(dvcfile.with_suffix(".lock"), relative_to))
        if getattr(stage, "cmd", None):
            found.update(
                os.path.relpath(out.fs_path, relative_to) for out in stage.outs if out.is_in_repo
            )
    return sorted(Path(p).as_posix() for p in found if not p.startswith(".."))

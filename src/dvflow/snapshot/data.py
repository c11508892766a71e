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

from dvflow.snapshot.params import is_params_dependency
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
    """

    path: str
    role: str
    stage: str
    hash: str | None
    hash_name: str | None
    size: int | None
    nfiles: int | None
    remote: str | None

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


def _version(repo: Repo, stage: Stage, item: Output, role: str) -> DataVersion:
    info = item.hash_info
    meta = item.meta
    cached = role == "out" and getattr(item, "use_cache", False)
    return DataVersion(
        path=_relpath(repo, item),
        role=role,
        stage=stage.addressing,
        hash=info.value if info else None,
        hash_name=info.name if info else None,
        size=meta.size if meta else None,
        nfiles=meta.nfiles if meta else None,
        remote=_remote_url(repo, getattr(item, "remote", None)) if cached else None,
    )


def stage_versions(
    repo: Repo, stage: Stage, *, deps: bool = True, outs: bool = True
) -> list[DataVersion]:
    """The data versions of one stage, as its ``Stage`` object holds them."""
    versions: list[DataVersion] = []
    if deps:
        versions += [
            _version(repo, stage, dep, "dep") for dep in stage.deps if not is_params_dependency(dep)
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
    upstream stage, already recorded), and the lock's previous entry otherwise.
    """
    producers = produced_versions(repo)
    versions = []
    for dep in stage_versions(repo, stage, outs=False):
        made = producers.get(dep.path)
        if made is not None:
            dep = replace(made, role="dep", stage=dep.stage)
        versions.append(dep)
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

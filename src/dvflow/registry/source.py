"""A model as DVC knows it: its path, the hash DVC recorded, and where the DVC remote
keeps its bytes.

Nothing is hashed here: the hash is the one in ``dvc.lock`` (or the ``.dvc`` file), read
through DVC's ``Repo.index``; the location in the remote comes from DVC's own object
layout (``Remote.odb``), without asking the remote anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import DvflowError, ProjectInputError
from dvflow.snapshot.data import project_versions
from dvflow.snapshot.redact import strip_credentials

if TYPE_CHECKING:
    from dvc.repo import Repo


class NoRemoteError(DvflowError):
    """The project has no DVC remote to point a model version at, or fetch it from."""

    exit_code = 5

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} needs a DVC remote, and this project has none: add one "
            "('dvc remote add -d store s3://BUCKET/PATH') and push the data ('dvc push')."
        )


@dataclass(frozen=True)
class ModelSource:
    """A DVC-tracked model.

    Attributes:
        path: relative to the project root, forward slashes.
        stage: the stage (or ``.dvc`` file) whose output it is.
        hash: DVC's hash (``.dir`` suffix for a folder).
        hash_name: the algorithm (``md5``; ``md5-dos2unix`` for DVC 2 files).
        remote: the name of the DVC remote its data goes to (None: no remote).
        remote_url: that remote's URL, credentials stripped.
        location: the URL of the object in that remote, credentials stripped.
    """

    path: str
    stage: str
    hash: str
    hash_name: str
    remote: str | None
    remote_url: str | None
    location: str | None

    @property
    def is_dir(self) -> bool:
        """Whether the model is a folder (its hash names DVC's ``.dir`` manifest)."""
        return self.hash.endswith(".dir")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return dict(self.__dict__)


def artifact_paths(repo: Repo) -> dict[str, str]:
    """``name -> path`` (relative to the project root) of the ``artifacts:`` sections of
    every ``dvc.yaml``, as DVC reads them."""
    found = {}
    for dvcfile, artifacts in repo.artifacts.read().items():
        folder = Path(dvcfile).parent
        for name, artifact in artifacts.items():
            path = Path(os.path.normpath(folder / artifact.path))
            found[name] = (
                path.relative_to(repo.root_dir).as_posix()
                if path.is_absolute()
                else (path.as_posix())
            )
    return found


def _relative(root: Path, ref: str, cwd: Path) -> str:
    path = Path(ref)
    absolute = path if path.is_absolute() else cwd / path
    try:
        return Path(os.path.normpath(absolute)).relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.normpath(ref)).as_posix()


def object_location(repo: Repo, remote: str | None, hash_value: str) -> str | None:
    """The URL at which the DVC remote ``remote`` (default: the project's) keeps the
    object ``hash_value``, credentials stripped; None without a remote."""
    from dvc.exceptions import DvcException

    name = remote or repo.config["core"].get("remote")
    if not name:
        return None
    try:
        odb = repo.cloud.get_remote_odb(name, "register")
    except DvcException:
        return None
    return strip_credentials(odb.fs.unstrip_protocol(odb.oid_to_path(hash_value)))


def locate_model(repo: Repo, ref: str, cwd: Path | None = None) -> ModelSource:
    """The DVC-tracked model that ``ref`` names: a path (relative to ``cwd``, default
    the current folder), or the name of an entry of a ``dvc.yaml``'s ``artifacts:``
    section.

    Raises:
        ProjectInputError: ``ref`` is not an output DVC keeps in its cache, or DVC has
            no hash for it yet.
    """
    root = Path(repo.root_dir)
    path = artifact_paths(repo).get(ref) or _relative(root, ref, cwd or Path.cwd())
    versions = {v.path: v for v in project_versions(repo) if v.role == "out"}
    version = versions.get(path)
    if version is None or not version.tracked:
        raise ProjectInputError(
            f"{path} is not an output DVC keeps in its cache: make it a stage's output "
            "in dvc.yaml (or 'dvc add' it), run 'dvflow repro', then register it."
        )
    if not version.hash:
        raise ProjectInputError(
            f"DVC has no hash for {path} yet: run 'dvflow repro' (or 'dvc commit'), then "
            "register it."
        )
    remote = repo.config["core"].get("remote")
    return ModelSource(
        path=path,
        stage=version.stage,
        hash=version.hash,
        hash_name=version.hash_name or "md5",
        remote=remote,
        remote_url=version.remote,
        location=object_location(repo, None, version.hash),
    )

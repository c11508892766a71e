"""``dvflow registry fetch models:/NAME/VERSION``: a registered model's bytes, through DVC.

The version's tags name the DVC hash; DVC pulls that object (a folder's files too) from
the project's DVC remote into its cache, DVC's own check verifies each object against
its hash, and the files are copied out of the cache. Nothing needs the commit checked
out: the hash is the whole address.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import DvflowError, RestoreError, RestoreRefusedError
from dvflow.project import working_directory
from dvflow.registry import schema
from dvflow.registry.source import NoRemoteError

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo
    from mlflow.entities.model_registry import ModelVersion

    from dvflow.workspace import Workspace

_MODEL_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))")


class ModelVersionNotFoundError(DvflowError):
    """The ``models:/`` URI names no version, or one dvflow did not register."""

    exit_code = 6


@dataclass(frozen=True)
class FetchedModel:
    """A model version written to ``folder``, each object verified against its hash."""

    name: str
    version: str
    path: str
    hash: str
    folder: Path
    files: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {**self.__dict__, "folder": str(self.folder)}


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` of ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.

    >>> parse_model_uri("models:/churn/3"), parse_model_uri("models:/churn@champion")
    (('churn', '3', None), ('churn', None, 'champion'))
    """
    match = _MODEL_URI.fullmatch(uri.strip())
    if match is None:
        raise ModelVersionNotFoundError(
            f"'{uri}' is not a model version URI: write models:/NAME/VERSION or models:/NAME@ALIAS."
        )
    return match["name"], match["version"], match["alias"]


def _version(workspace: Workspace, uri: str) -> ModelVersion:
    from mlflow.exceptions import MlflowException

    name, number, alias = parse_model_uri(uri)
    client = workspace.session().client
    try:
        if alias:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, str(number))
    except MlflowException as exc:
        raise ModelVersionNotFoundError(
            f"no model version {uri} in {workspace.experiment}'s tracking store "
            f"({exc.error_code}): 'mlflow models' or the UI lists the registered models."
        ) from exc


def _objects(repo: Repo, info: HashInfo) -> list[tuple[str, HashInfo]]:
    """``relative file path -> object`` of a pulled model (one entry for a file)."""
    from dvc_data.hashfile.tree import Tree

    if not info.isdir:
        return [("", info)]
    tree = Tree.load(repo.cache.local, info)
    return [("/".join(key), entry) for key, _, entry in tree if entry is not None]


def fetch_model(workspace: Workspace, uri: str, into: Path | None = None) -> FetchedModel:
    """Fetch the model version ``uri`` through the project's DVC remote into ``into``
    (default: ``./NAME-vVERSION``, which must be new or empty).

    Raises:
        ModelVersionNotFoundError: no such version, or it carries no DVC hash.
        RestoreRefusedError: ``into`` holds files.
        RestoreError: DVC could not pull it, or an object does not match its hash.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    version = _version(workspace, uri)
    found = dict(version.tags)
    if schema.MODEL_HASH not in found:
        raise ModelVersionNotFoundError(
            f"{uri} was not registered by dvflow ({schema.MODEL_HASH} is not set): load "
            "it with mlflow.pyfunc.load_model instead."
        )
    path, value = found[schema.MODEL_PATH], found[schema.MODEL_HASH]
    folder = (into or Path.cwd() / f"{version.name}-v{version.version}").resolve()
    if folder.exists() and any(folder.iterdir()):
        raise RestoreRefusedError(
            f"{folder} is not empty: nothing was fetched. Name a new folder with --out."
        )
    info = HashInfo(found.get(schema.MODEL_HASH_NAME, "md5"), value)
    root = workspace.project.root
    with working_directory(root), Repo(str(root)) as repo:
        if not repo.config["core"].get("remote"):
            raise NoRemoteError("fetching a model")
        try:
            result = repo.cloud.pull([info])
            objects = _objects(repo, info)
            if info.isdir:
                result.failed.update(repo.cloud.pull([o for _, o in objects]).failed)
        except (DvcException, OSError) as exc:
            raise RestoreError(f"DVC could not pull {path} ({value}): {exc}. ") from exc
        if result.failed:
            raise RestoreError(
                f"{len(result.failed)} object(s) of {path} ({value}) are in neither the DVC "
                "cache nor the remote: 'dvc push' them from the clone that registered it."
            )
        cache = repo.cache.local
        for _, obj in objects:
            try:
                cache.check(obj.value)  # DVC's own verification: content vs hash
            except Exception as exc:  # dvc_data raises its own ObjectFormatError
                raise RestoreError(
                    f"{path}: the cached object {obj.value} does not match its hash: delete "
                    f"{cache.oid_to_path(obj.value)} and fetch again."
                ) from exc
        target = folder / Path(path).name
        for relative, obj in objects:
            destination = target / relative if relative else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache.oid_to_path(obj.value), destination)
    return FetchedModel(version.name, str(version.version), path, value, folder, len(objects))

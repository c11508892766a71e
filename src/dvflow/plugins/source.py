"""The ``dvc`` dataset source: the datasets dvflow logs, resolved and loaded through DVC.

dvflow logs each DVC-tracked data version as an MLflow dataset whose source type is
``dvc`` and whose source names the path, the DVC hash, and (when known) the repository
and revision. ``mlflow.data.get_source(dataset_input)`` gives a ``DvcDatasetSource``;
its ``load()`` fetches exactly that version with ``dvc.api.DVCFileSystem`` (from DVC's
cache, else the remote). The revision is checked against the hash before anything is
downloaded: DVC's own record of the revision must say that hash (never re-hashed). A run
records the commit it was made from, which may hold an older version of an output: then
the commit that recorded the hash (``git log -S``) is used.

This module is loaded by MLflow's plug-in registry, when mlflow is already imported.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.data.dataset_source import DatasetSource

from dvflow.errors import DvflowError

SOURCE_TYPE = "dvc"


class DatasetVersionNotFoundError(DvflowError):
    """No revision at hand holds the DVC version a dataset source names."""

    def __init__(self, path: str, wanted: str | None, tried: list[str]) -> None:
        super().__init__(
            f"no revision of {', '.join(tried) or 'any repository'} holds {path} "
            f"with DVC hash {wanted}. Fetch the commit that recorded it (git fetch), "
            "or load from a clone of the repository that has it."
        )


@dataclass(frozen=True)
class _Candidate:
    repo: str | None  # None: the DVC project around the current folder
    rev: str | None  # None: its workspace


def _local_project() -> Path | None:
    from dvflow.errors import NotAProjectError
    from dvflow.project import find_project

    try:
        return find_project(require_dvc=True).root
    except NotAProjectError:
        return None


def _commit_recording(root: Path, hash_value: str) -> str | None:
    """The newest commit (any ref) whose change adds ``hash_value`` to DVC's files."""
    from dvflow.snapshot.gitindex import run_git

    out = run_git(root, ["log", "--all", "-n1", "--format=%H", f"-S{hash_value}"])
    lines = out.stdout.decode().split() if out.returncode == 0 else []
    return lines[0] if lines else None


def recorded_hash(info: dict[str, Any]) -> str | None:
    """The hash DVC recorded for a path, from ``DVCFileSystem.info`` (never computed).

    >>> recorded_hash({"dvc_info": {"md5": "abc"}})
    'abc'
    >>> recorded_hash({"type": "file"}) is None
    True
    """
    dvc_info = info.get("dvc_info") or {}
    for key in ("md5", "etag", "checksum"):
        if dvc_info.get(key):
            return str(dvc_info[key])
    return None


class DvcDatasetSource(DatasetSource):
    """A DVC-tracked path at one version: repository, revision, path and DVC hash.

    Example:
        >>> source = DvcDatasetSource("data/raw.csv", hash="a304afb96060aad90176268345e10355")
        >>> DvcDatasetSource.from_json(source.to_json()) == source
        True
    """

    def __init__(
        self,
        path: str,
        *,
        repo: str | None = None,
        rev: str | None = None,
        hash: str | None = None,
        stage: str | None = None,
        remote: str | None = None,
    ) -> None:
        self.path = path
        self.repo = repo
        self.rev = rev
        self.hash = hash
        self.stage = stage
        self.remote = remote

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DvcDatasetSource) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.path, self.repo, self.rev, self.hash))

    @staticmethod
    def _get_source_type() -> str:
        return SOURCE_TYPE

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        # MLflow asks every source about every raw source a user logs: only ours.
        return isinstance(raw_source, dict) and raw_source.get("type") == SOURCE_TYPE

    @classmethod
    def _resolve(cls, raw_source: Any) -> DvcDatasetSource:
        return cls.from_dict({k: v for k, v in raw_source.items() if k != "type"})

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready fields that are set (the form dvflow logs)."""
        fields = {
            "path": self.path,
            "repo": self.repo,
            "rev": self.rev,
            "hash": self.hash,
            "stage": self.stage,
            "remote": self.remote,
        }
        return {k: v for k, v in fields.items() if v is not None}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DvcDatasetSource:
        """The source from its logged form; unknown keys are ignored (newer dvflow)."""
        known = ("repo", "rev", "hash", "stage", "remote")
        return cls(str(source_dict["path"]), **{k: source_dict.get(k) for k in known})

    def _candidates(self) -> list[_Candidate]:
        """Where to look, best first: the recorded revision (in the local clone, then in
        the recorded repository), the commit that recorded the hash, the workspace."""
        local = _local_project()
        found = []
        if local is not None:
            found.append(_Candidate(str(local), self.rev))
            if self.hash:
                recording = _commit_recording(local, self.hash)
                if recording and recording != self.rev:
                    found.append(_Candidate(str(local), recording))
        if self.repo:
            found.append(_Candidate(self.repo, self.rev))
        if local is not None and self.rev is not None:
            found.append(_Candidate(str(local), None))
        return found

    def load(self, dst_path: str | None = None) -> str:
        """Fetch exactly this version of the path with DVC (cache, else remote).

        Args:
            dst_path: the folder to download into (default: a new temporary folder).

        Returns:
            The local path of the file or folder.

        Raises:
            DatasetVersionNotFoundError: no revision at hand records this hash.
        """
        from dvc.api import DVCFileSystem

        tried = []
        for candidate in self._candidates():
            tried.append(f"{candidate.repo}@{candidate.rev or 'workspace'}")
            try:
                fs = DVCFileSystem(candidate.repo, rev=candidate.rev)
                info = fs.info(self.path)
            except Exception:  # a revision or repository that is not there: next one
                continue
            if self.hash and recorded_hash(info) != self.hash:
                continue
            folder = Path(dst_path or tempfile.mkdtemp(prefix="dvflow-dataset-"))
            target = folder / Path(self.path).name
            fs.get(self.path, str(target), recursive=info.get("type") == "directory")
            return str(target)
        raise DatasetVersionNotFoundError(self.path, self.hash, tried)

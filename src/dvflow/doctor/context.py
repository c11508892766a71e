"""What checks look at: the project, its DVC repository (opened once) and git's view."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

# A file past this size is data: DVC should track it, not git (as `dvflow commit`).
from dvflow.commit.staging import LARGE_FILE_BYTES
from dvflow.snapshot.gitindex import run_git
from dvflow.workspace import Workspace

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage


class Context:
    """The project under examination, with lazily read, shared facts."""

    def __init__(self, workspace: Workspace, large_file_bytes: int = LARGE_FILE_BYTES) -> None:
        self.workspace = workspace
        self.project = workspace.project
        self.root = workspace.project.root
        self.git_root = workspace.project.git_root
        self.large_file_bytes = large_file_bytes
        self._repo: Repo | None = None
        # Set by the store check for the experiment check: None when unreachable.
        self.mlflow_client: Any = None

    @property
    def repo(self) -> Repo | None:
        """DVC's ``Repo`` of the project (None without DVC), opened once."""
        if self._repo is None and self.project.has_dvc:
            from dvc.repo import Repo

            self._repo = Repo(str(self.root))
        return self._repo

    def close(self) -> None:
        """Close DVC's repository."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    @cached_property
    def stages(self) -> list[Stage]:
        """Every stage of every ``dvc.yaml`` and ``.dvc`` file."""
        return list(self.repo.index.stages) if self.repo is not None else []

    def rel(self, path: str | os.PathLike[str], to: Path | None = None) -> str:
        """``path`` relative to the project root (or ``to``), with ``/``."""
        return Path(os.path.relpath(path, to or self.root)).as_posix()

    def git(self, *args: str) -> tuple[int, str]:
        """Run git at the top level: exit code and stdout."""
        if self.git_root is None:
            return 128, ""
        out = run_git(self.git_root, args)
        return out.returncode, out.stdout.decode(errors="replace")

    def _listed(self, *args: str) -> list[str]:
        code, out = self.git("ls-files", "-z", *args)
        return [p for p in out.split("\0") if p] if code == 0 else []

    @cached_property
    def tracked_files(self) -> list[str]:
        """Files git tracks, relative to the git top level."""
        return self._listed()

    @cached_property
    def untracked_files(self) -> list[str]:
        """Untracked files git does not ignore, relative to the git top level."""
        return self._listed("--others", "--exclude-standard")

    @cached_property
    def cached_outputs(self) -> list[str]:
        """Outputs whose content DVC keeps in its cache, relative to the git top level."""
        if self.repo is None or self.git_root is None:
            return []
        return sorted(
            self.rel(out.fs_path, self.git_root)
            for out in self.repo.index.outs
            if out.is_in_repo and out.use_cache
        )

    def size(self, relative_to_git: str) -> int:
        """The size of a working-tree file (0 if it cannot be read)."""
        assert self.git_root is not None
        try:
            return (self.git_root / relative_to_git).stat().st_size
        except OSError:
            return 0

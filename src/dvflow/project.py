"""Finding the project: the git repository, the DVC root, and the project root.

Inside a queued DVC experiment the stage runs in a temporary copy of the repository
(``<root>/.dvc/tmp/exps/<tmp>/``); the project, its store and its name are those of the
original repository, so that runs are not written into a folder DVC deletes afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dvflow.errors import NotAProjectError

_EXP_TEMP_PARTS = (".dvc", "tmp", "exps")
# dvflow's own local state inside a project (never committed).
STATE_DIR = Path(".dvflow") / "tmp"


@dataclass(frozen=True)
class Project:
    """Where a dvflow project lives.

    Attributes:
        root: the DVC root where there is one, else the git top-level folder. Stage
            commands, params files and ``dvc.yaml`` are relative to it.
        home: the folder that owns the tracking store and names the default experiment.
            Equal to ``root`` except inside a queued experiment's temporary copy.
        git_root: the git top-level folder, or None outside git.
        has_dvc: whether ``root`` holds a ``.dvc`` folder.
    """

    root: Path
    home: Path
    git_root: Path | None
    has_dvc: bool

    @property
    def name(self) -> str:
        """The project's name: its home folder's name."""
        return self.home.name


def git_toplevel(path: Path) -> Path | None:
    """The top-level folder of the git repository holding ``path``, or None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=path,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 else None


def _dvc_root(path: Path) -> Path | None:
    # DVC's own Repo.find_root does this walk too, but importing dvc.repo costs 0.15 s,
    # and `dvflow repro` finds the project before it imports DVC on purpose (the
    # recorder process starts first).
    for folder in (path, *path.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def home_of(root: Path) -> Path:
    """The original repository of a queued experiment's temporary copy, else ``root``."""
    parts = root.parts
    for i in range(len(parts) - len(_EXP_TEMP_PARTS)):
        if parts[i + 1 : i + 1 + len(_EXP_TEMP_PARTS)] == _EXP_TEMP_PARTS:
            return Path(*parts[: i + 1])
    return root


def find_project(start: Path | None = None, *, require_dvc: bool = False) -> Project:
    """Find the project that contains ``start`` (default: the current folder).

        A stage command runs in its stage's ``wdir``; inside a queued or ``--temp``
        experiment that is in DVC's temporary copy, whose files (params set with ``-S``
        included) are the ones to read; the project's home, which owns the tracking store,
    is the original repository above ``.dvc/tmp/exps/`` (``home_of``).

        Raises:
            NotAProjectError: ``start`` is in neither a git repository nor a DVC project, or
                ``require_dvc`` is set and there is no DVC project.
    """
    start = (start or Path.cwd()).resolve()
    dvc_root = _dvc_root(start)
    git_root = git_toplevel(start)
    if require_dvc and dvc_root is None:
        raise NotAProjectError(str(start), "DVC project")
    root = dvc_root or git_root
    if root is None:
        raise NotAProjectError(str(start))
    return Project(root=root, home=home_of(root), git_root=git_root, has_dvc=dvc_root is not None)


@contextlib.contextmanager
def working_directory(folder: Path) -> Iterator[None]:
    """Run the block in ``folder`` (DVC resolves stage addresses and its default target
    against the current folder)."""
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def exclude_locally(project: Project, patterns: list[str]) -> None:
    """Add ``patterns`` (relative to the project home) to ``.git/info/exclude``.

    dvflow's own local files (the embedded store) must not make every run dirty, and
    this file is the clone's own: no file of the user's is changed.
    """
    if project.git_root is None:
        return
    out = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-path", "info/exclude"],
        cwd=project.home,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return
    exclude = Path(out.stdout.strip())
    try:
        prefix = project.home.relative_to(project.git_root).as_posix()
    except ValueError:
        return
    prefix = "" if prefix == "." else f"{prefix}/"
    wanted = [f"/{prefix}{pattern}" for pattern in patterns]
    try:
        current = exclude.read_text(encoding="utf-8").splitlines() if exclude.is_file() else []
        missing = [line for line in wanted if line not in current]
        if missing:
            exclude.parent.mkdir(parents=True, exist_ok=True)
            with exclude.open("a", encoding="utf-8") as handle:
                if current and current[-1] != "":
                    handle.write("\n")
                handle.write("# dvflow's local tracking store\n" + "\n".join(missing) + "\n")
    except (OSError, UnicodeDecodeError):
        # A read-only .git (or an odd exclude file): recording must not need to write
        # into .git, as `dvc repro` does not. The store may then show as untracked.
        return

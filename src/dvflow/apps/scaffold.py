"""Creating a project from dvflow's template (``templates/project``), or adopting a folder.

A new project gets the template with its two tokens replaced, ``git init``, ``dvc init``,
its raw data set tracked with ``dvc add``, and a first commit. An adopted folder gets only
what it lacks: nothing is overwritten or committed, the user's work stays as it was.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.apps.requirements import (
    CORE_DISTRIBUTIONS,
    STARTER_DISTRIBUTIONS,
    dependency_files,
    how_to_add,
    lacking,
    requirements_text,
)
from dvflow.apps.template import (
    NAME_TOKEN,
    REQUIREMENTS_TOKEN,
    append_patterns,
    fill_tokens,
    missing_params,
    pytest_imports_from_root,
    template_file,
    template_files,
)
from dvflow.errors import DvflowError, ProjectInputError, one_line
from dvflow.project import git_toplevel

if TYPE_CHECKING:
    pass

RAW_DATA = "data/raw/breast_cancer.csv"
DATASET_SCRIPT = "src/make_dataset.py"
DATASET_MODULE = "src.make_dataset"  # run as the stages are: `python -m`, from the root
FIRST_COMMIT_MESSAGE = "Create project with dvflow init"

# The template files any project gets. The others are the starter pipeline, added only
# without a dvc.yaml: next to the user's own pipeline they would be orphans.
_SUPPORT_FILES = {".gitignore", ".dvcignore", ".dockerignore", "Dockerfile", "requirements.txt"}
# Files that only fit a project whose dependencies are in requirements.txt.
_NEED_REQUIREMENTS_TXT = ("requirements.txt", "Dockerfile")
# An existing ignore file gets the template's missing patterns appended: without them
# the local MLflow store (mlflow.db, mlartifacts/) would end up in git.
_IGNORE_FILES = {".gitignore", ".dvcignore"}

Progress = Callable[[str], None]


@dataclass
class ScaffoldReport:
    """What ``create_project`` did. Paths are relative to ``path``, with ``/``.

    Attributes:
        path: the project folder.
        name: the project's name (the folder's name).
        here: whether an existing folder was adopted.
        created: template files written.
        kept: template files left alone because the project already had them.
        updated: existing ignore files the template's missing patterns were appended to.
        skipped: starter-pipeline files not added because the project has a dvc.yaml.
        git_initialised: whether ``git init`` ran.
        dvc_initialised: whether ``dvc init`` ran.
        dataset_added: whether the raw data set was written and tracked with ``dvc add``.
        pipeline_kept: whether the project had its own ``dvc.yaml`` (then no data set).
        commit: the first commit's hash (new projects only).
        git_add: what the user should ``git add`` (adopted folders only).
        notes: what the user should check or do by hand.
    """

    path: Path
    name: str
    here: bool
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    git_initialised: bool = False
    dvc_initialised: bool = False
    dataset_added: bool = False
    pipeline_kept: bool = False
    commit: str | None = None
    git_add: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {**asdict(self), "path": str(self.path)}


def create_project(
    path: Path,
    *,
    here: bool = False,
    progress: Progress | None = None,
    message: str = FIRST_COMMIT_MESSAGE,
) -> ScaffoldReport:
    """Create a dvflow project in ``path``, or adopt the existing folder ``path``.

    Args:
        path: a new or empty folder; with ``here``, an existing folder or repository.
        here: add only what is missing, never overwrite a file, and do not commit.
        progress: called with a short line before each slow step.
        message: the first commit's message (new projects only).

    Returns:
        What was created, kept and initialised.

    Raises:
        ProjectInputError: ``path`` is not empty (without ``here``) or not a folder.
        DvflowError: git, DVC or the data set script failed. A new project is then
            removed again, so that the command can simply be run once more.
    """
    root = Path(path).expanduser().resolve()
    say = progress or (lambda _line: None)
    return _adopt(root, say) if here else _create(root, say, message)


def _create(root: Path, say: Progress, message: str) -> ScaffoldReport:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        adopt = f"adopt it with 'dvflow init --here {shlex.quote(str(root))}', or "
        raise ProjectInputError(
            f"{root} {'is not empty' if root.is_dir() else 'is a file'}: "
            f"{adopt if root.is_dir() else ''}name a new or empty folder."
        )
    made = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    report = ScaffoldReport(path=root, name=root.name, here=False)
    try:
        _copy_template(root, report, starter=True)
        _git_init(root, report, say)
        _dvc_init(root, report, say, subdir=False)
        _add_dataset(root, report, say)
        say(f"first commit: {message}")
        report.commit = commit_everything(root, message)
    except BaseException:
        # Everything in the folder is ours: remove it, so a second try starts clean.
        _remove_created(root, made)
        raise
    return report


def _adopt(root: Path, say: Progress) -> ScaffoldReport:
    if not root.is_dir():
        raise ProjectInputError(
            f"{root} is not an existing folder: --here adopts one, 'dvflow init DIR' creates one."
        )
    existed = {child.name for child in root.iterdir()}
    report = ScaffoldReport(path=root, name=root.name, here=True)
    report.pipeline_kept = (root / "dvc.yaml").exists()
    # Read before copying: the template's own pyproject.toml declares no dependencies.
    declared = [] if (root / "requirements.txt").exists() else dependency_files(root)
    _copy_template(root, report, starter=not report.pipeline_kept, declared=declared)
    git_root = git_toplevel(root)
    if git_root is None:
        _git_init(root, report, say)
        git_root = root
    if not _inside_dvc_project(root, git_root):
        # A folder inside a larger repository becomes a DVC project of its own.
        _dvc_init(root, report, say, subdir=git_root != root)
    if not report.pipeline_kept:
        _add_dataset(root, report, say)
    report.notes.extend(_kept_file_notes(root, report, declared))
    report.git_add = _paths_to_stage(report, existed)
    return report


def _copy_template(
    root: Path, report: ScaffoldReport, *, starter: bool, declared: list[str] | None = None
) -> None:
    """Copy what the project lacks; ``declared``: its own files of dependencies."""
    needed = STARTER_DISTRIBUTIONS if starter else CORE_DISTRIBUTIONS
    tokens = {NAME_TOKEN: root.name, REQUIREMENTS_TOKEN: requirements_text(needed)}
    for relative, data in template_files():
        target = root / relative
        if target.exists() or target.is_symlink():
            if relative in _IGNORE_FILES and target.is_file() and append_patterns(target, data):
                report.updated.append(relative)
            else:
                report.kept.append(relative)
            continue
        if not starter and relative not in _SUPPORT_FILES:
            report.skipped.append(relative)
            continue
        if declared and relative in _NEED_REQUIREMENTS_TXT:
            # A second list of dependencies would drift from the project's own.
            report.skipped.append(relative)
            continue
        content = fill_tokens(relative, data, tokens)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # "x": never write through a file that appeared meanwhile.
            with target.open("xb") as file:
                file.write(content)
        except (FileExistsError, NotADirectoryError):
            report.skipped.append(relative)
            report.notes.append(f"{relative} not added: a file is in the way of its folder.")
            continue
        report.created.append(relative)


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise DvflowError("git is not installed or not on PATH. Install git first.") from None
    if check and result.returncode != 0:
        detail = one_line(result.stderr, last=True) or f"exit code {result.returncode}"
        raise DvflowError(f"'git {' '.join(args)}' failed in {cwd}: {detail}")
    return result


def _git_init(root: Path, report: ScaffoldReport, say: Progress) -> None:
    say("git init (branch main)")
    _git(root, "init", "-q")
    # Rather than `init -b main` (git >= 2.28): any git names the branch this way.
    _git(root, "symbolic-ref", "HEAD", "refs/heads/main")
    report.git_initialised = True


def _inside_dvc_project(root: Path, git_root: Path) -> bool:
    """Whether ``root`` or a folder above it, within the repository, holds ``.dvc/``."""
    folders = [root, *root.parents]
    within = folders[: folders.index(git_root) + 1] if git_root in folders else [root]
    return any((folder / ".dvc").is_dir() for folder in within)


def commit_everything(root: Path, message: str) -> str:
    """Commit all of a project dvflow created itself; return the commit's hash.

    Only for this commit, and only what git lacks, a fallback identity is given: the
    user's git config stays untouched.
    """
    identity: list[str] = []
    for key, fallback in (("user.name", "dvflow"), ("user.email", "dvflow@localhost")):
        if not _git(root, "config", key, check=False).stdout.strip():
            identity += ["-c", f"{key}={fallback}"]
    _git(root, "add", "-A")
    _git(root, *identity, "commit", "-q", "-m", message)
    return _git(root, "rev-parse", "HEAD").stdout.strip()


@contextmanager
def _dvc_api(what: str) -> Iterator[Any]:
    """DVC's ``Repo`` class, quiet, with its errors turned into one-line dvflow errors."""
    import logging

    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    dvc_logger = logging.getLogger("dvc")
    level = dvc_logger.level
    # DVC prints its own next steps on stdout, which carries dvflow's report (or JSON).
    dvc_logger.setLevel(logging.WARNING)
    try:
        yield Repo
    except DvcException as exc:
        raise DvflowError(f"{what} failed: {one_line(str(exc))}") from exc
    finally:
        dvc_logger.setLevel(level)


def _dvc_init(root: Path, report: ScaffoldReport, say: Progress, *, subdir: bool) -> None:
    say("dvc init")
    # Keeps an existing .dvcignore (the template's); stages .dvc/ as `dvc init` does.
    with _dvc_api(f"dvc init in {root}") as repo_class:
        repo_class.init(str(root), subdir=subdir).close()
    report.dvc_initialised = True


def _add_dataset(root: Path, report: ScaffoldReport, say: Progress) -> None:
    """Write the raw data set if needed and track it with ``dvc add``."""
    csv = root / RAW_DATA
    if csv.with_name(f"{csv.name}.dvc").exists():
        return
    if not csv.exists():
        if DATASET_SCRIPT not in report.created:
            report.notes.append(
                f"{DATASET_SCRIPT} was there before and was not run: put the raw data at"
                f" {RAW_DATA} and run 'dvc add {RAW_DATA}'."
            )
            return
        say(f"writing the raw data set {RAW_DATA}")
        result = subprocess.run(
            [sys.executable, "-m", DATASET_MODULE],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            missing_module = "ModuleNotFoundError" in result.stderr
            hint = " Run 'pip install -r requirements.txt' first." if missing_module else ""
            detail = one_line(result.stderr, last=True) or f"exit code {result.returncode}"
            raise DvflowError(f"{DATASET_SCRIPT} failed: {detail}.{hint}")
    say(f"dvc add {RAW_DATA}")
    with _dvc_api(f"dvc add {RAW_DATA}") as repo_class, repo_class(str(root)) as repo:
        repo.add(str(csv))
    report.dataset_added = True


def _kept_file_notes(root: Path, report: ScaffoldReport, declared: list[str]) -> Iterator[str]:
    """What an adopted project's own files lack for dvflow or the starter pipeline."""
    # The starter pipeline's libraries too while its dvc.yaml is there (as added before).
    pipeline = root / "dvc.yaml"
    starter = pipeline.is_file() and pipeline.read_bytes() == template_file("dvc.yaml")
    needed = STARTER_DISTRIBUTIONS if starter else CORE_DISTRIBUTIONS
    if declared:
        texts = [(root / name).read_text(errors="replace") for name in declared]
        missing = ", ".join(map(how_to_add, lacking(texts, needed)))
        not_added = [name for name in _NEED_REQUIREMENTS_TXT if name in report.skipped]
        yield (
            f"dependencies are declared in {', '.join(declared)}, so "
            f"{' and '.join(not_added)} {'was' if len(not_added) == 1 else 'were'} not added"
            + (f"; add {missing} there." if missing else ".")
        )
    elif "requirements.txt" in report.kept and (root / "requirements.txt").is_file():
        text = (root / "requirements.txt").read_text(errors="replace")
        missing = ", ".join(map(how_to_add, lacking([text], needed)))
        if missing:
            yield f"requirements.txt was kept; add {missing} to it."
    if "params.yaml" in report.kept and "dvc.yaml" in report.created:
        absent = missing_params(root / "params.yaml")
        if absent:
            yield (
                f"params.yaml was kept; the starter pipeline in dvc.yaml also reads "
                f"{', '.join(absent)}: add them before 'dvflow repro'."
            )
    if "tests/conftest.py" in report.created and not pytest_imports_from_root(root):
        yield (
            "the starter tests import src.<stage> from the project root, which your pytest"
            " settings do not put on the import path: run them with 'python -m pytest', or"
            " add pythonpath = . to your pytest configuration."
        )


def _paths_to_stage(report: ScaffoldReport, existed: set[str]) -> list[str]:
    """What to ``git add``, a new top-level folder named once rather than file by file."""
    paths = [*report.created, *report.updated]
    if report.dvc_initialised:
        paths += [".dvc/config", ".dvc/.gitignore"]
    if report.dataset_added:
        # `dvc add` writes the .dvc file and lists the data in the folder's .gitignore.
        paths += [f"{RAW_DATA}.dvc", f"{RAW_DATA.rpartition('/')[0]}/.gitignore"]
    shown = set()
    for path in paths:
        top, _, rest = path.partition("/")
        shown.add(f"{top}/" if rest and top not in existed else path)
    return sorted(shown)


def _remove_created(root: Path, made: bool) -> None:
    # The folder itself if this call made it, else only what it put in the empty folder.
    for child in [root] if made else list(root.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)

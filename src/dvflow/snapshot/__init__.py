"""A snapshot: the exact code, data, params and environment of one moment.

Read from git and DVC; a snapshot never writes to the project and knows nothing of
MLflow (``dvflow.tracking.writer`` writes it into a run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import env
from dvflow.errors import ProjectInputError, one_line
from dvflow.project import Project, working_directory
from dvflow.snapshot.code import CodeVersion, read_code_version
from dvflow.snapshot.data import (
    DataVersion,
    pipeline_written_paths,
    project_versions,
    running_stage_versions,
    stage_versions,
)
from dvflow.snapshot.environment import Environment, read_environment
from dvflow.snapshot.params import params_files, project_params, stage_params
from dvflow.snapshot.patch import WorkingTreeDiff

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage


@dataclass(frozen=True)
class DvcContext:
    """What DVC tells a stage command through its environment."""

    root: str | None = None
    stage: str | None = None
    exp_name: str | None = None
    exp_baseline: str | None = None

    @classmethod
    def from_environ(cls) -> DvcContext:
        """Read ``DVC_ROOT``, ``DVC_STAGE``, ``DVC_EXP_NAME``, ``DVC_EXP_BASELINE_REV``."""
        get = os.environ.get
        return cls(
            root=get(env.DVC_ROOT),
            stage=get(env.DVC_STAGE),
            exp_name=get(env.DVC_EXP_NAME),
            exp_baseline=get(env.DVC_EXP_BASELINE_REV),
        )


@dataclass(frozen=True)
class Snapshot:
    """Code, data, params and environment, plus the files that define the pipeline."""

    root: Path
    code: CodeVersion | None
    data: list[DataVersion]
    params: dict[str, Any]
    environment: Environment
    dvc: DvcContext
    stage: str | None = None
    # Files to keep beside the run (dvc.yaml, dvc.lock, params files), relative to root.
    files: list[str] = field(default_factory=list)
    git_diff: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of everything except the diff."""
        return {
            "root": str(self.root),
            "stage": self.stage,
            "code": self.code.to_dict() if self.code else None,
            "data": [v.to_dict() for v in self.data],
            "params": self.params,
            "environment": self.environment.to_dict(),
            "dvc": dict(self.dvc.__dict__),
            "files": self.files,
        }


def snapshot_from_dict(data: dict[str, Any], environment: Environment | None = None) -> Snapshot:
    """The inverse of ``Snapshot.to_dict`` (plus the diff, kept under ``git_diff``).

    ``environment`` replaces the recorded one when given (the recorder process reads
    its own, which is the same interpreter's).
    """
    return Snapshot(
        root=Path(data["root"]),
        code=CodeVersion(**data["code"]) if data["code"] else None,
        data=[DataVersion(**v) for v in data["data"]],
        params=dict(data["params"]),
        environment=environment or Environment(**data["environment"]),
        dvc=DvcContext(**data["dvc"]),
        stage=data["stage"],
        files=list(data["files"]),
        git_diff=data.get("git_diff"),
    )


def _pipeline_files(repo: Repo, stages: list[Stage]) -> list[Path]:
    found: set[Path] = set()
    for stage in stages:
        dvcfile = Path(stage.dvcfile.path)
        found.add(dvcfile)
        lockfile = dvcfile.with_suffix(".lock")
        if dvcfile.name == "dvc.yaml" and lockfile.is_file():
            found.add(lockfile)
    found.update(params_files(repo, stages))
    return sorted(p for p in found if p.is_file())


def find_stage(repo: Repo, address: str) -> Stage:
    """The stage DVC names ``address`` (``train``, ``train@0``, ``sub/dvc.yaml:train``)."""
    from dvc.exceptions import DvcException

    for stage in repo.index.stages:
        if stage.addressing == address:
            return stage
    try:
        return repo.stage.collect(address)[0]
    except (DvcException, IndexError) as exc:
        raise ProjectInputError(
            f"no stage '{address}' in {repo.root_dir}: {one_line(exc)}. Check the stage's "
            "name in dvc.yaml (DVC_STAGE names the stage a command runs for)."
        ) from exc


def take_snapshot(
    project: Project,
    *,
    stage: str | None = None,
    repo: Repo | None = None,
    with_outputs: bool = True,
    with_diff: bool = False,
    with_environment: bool = True,
    code: CodeVersion | None = None,
    diff: WorkingTreeDiff | None = None,
) -> Snapshot:
    """Read the snapshot of ``project`` now.

    Args:
        project: the project to read.
        stage: a stage address: record that stage's deps, outs and params only.
            Default: the whole pipeline.
        repo: an open ``dvc.repo.Repo`` to read from (opened here otherwise).
        with_outputs: include outputs. False for a stage that is running: its outputs
            are stale until DVC writes ``dvc.lock`` after it, its dependencies are read
            from what produced them, and the files DVC rewrites while the pipeline runs
            (lock files, outputs) count as committed for the code state.
        with_diff: keep the git patch of a dirty tree, for an artifact.
        with_environment: read the environment (else ``Environment.unread()``).
        code: a code state read earlier (with its ``diff``): the one that made the run.
    """
    data: list[DataVersion] = []
    params: dict[str, Any] = {}
    files: list[str] = []
    keep: list[str] = []
    if project.has_dvc:
        from dvc.repo import Repo

        owned = repo is None
        repo = repo or Repo(str(project.root))
        # DVC writes stage addresses relative to the current folder, and DVC_STAGE was
        # written from the project root, while a stage with a wdir runs elsewhere.
        with working_directory(project.root):
            try:
                if stage is not None:
                    stages = [find_stage(repo, stage)]
                    data = (
                        stage_versions(repo, stages[0])
                        if with_outputs
                        else running_stage_versions(repo, stages[0])
                    )
                    params = stage_params(stages[0])
                else:
                    stages = list(repo.index.stages)
                    data = project_versions(repo, stages)
                    params = project_params(repo, stages)
                files = [
                    p.relative_to(project.root).as_posix() for p in _pipeline_files(repo, stages)
                ]
                if not with_outputs and project.git_root is not None:
                    keep = pipeline_written_paths(repo, project.git_root)
            finally:
                if owned:
                    repo.close()
    if code is None and project.git_root is not None:
        code, diff = read_code_version(project.git_root, with_diff=with_diff, keep=keep)
    return Snapshot(
        root=project.root,
        code=code,
        data=data,
        params=params,
        environment=read_environment(project.root) if with_environment else Environment.unread(),
        dvc=DvcContext.from_environ(),
        stage=stage,
        files=files,
        git_diff=diff.text() if (diff and with_diff) else None,
    )

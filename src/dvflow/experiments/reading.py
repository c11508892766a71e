"""What ``dvc exp show`` shows, read with DVC's API (``Repo.experiments.show``): the
commits of the branch with their experiments, queued, running and finished."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.snapshot.gitindex import run_git
from dvflow.snapshot.params import flatten
from dvflow.snapshot.results import qualified_metrics

if TYPE_CHECKING:
    from dvc.repo import Repo

STATE_DONE = "success"  # DVC's word for a finished experiment (ExpExecutor.state)
STATE_QUEUED = "queued"


@dataclass(frozen=True)
class ExpRecord:
    """One row of ``dvc exp show``: a commit of the branch, or an experiment on one.

    Attributes:
        key: stable across syncs: ``commit:<sha>``, or the experiment's git ref
            (``refs/exps/ab/cdef.../<name>``), the same while queued and once done.
        rev: the commit (for a queued experiment, DVC's stash entry).
        name: the experiment's name, or None for a commit.
        baseline: the commit an experiment started from (its own sha for a commit).
        state: ``success`` (a commit, or a finished experiment), ``queued``,
            ``running``, ``failed``.
    """

    key: str
    rev: str
    name: str | None
    baseline: str
    state: str
    branch: str | None = None
    timestamp: datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    deps: dict[str, str] = field(default_factory=dict)
    outs: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str | None:
        """The experiment's git ref, as DVC names it (``dvc.repo.experiments.refs``)."""
        return self.key if self.name else None


def exp_ref(baseline: str, name: str) -> str:
    """The git ref DVC gives experiment ``name`` of ``baseline`` (``ExpRefInfo``).

    >>> exp_ref("c03d49382f6b19f293ff629e7aa2b58c4880eb35", "e1")
    'refs/exps/c0/3d49382f6b19f293ff629e7aa2b58c4880eb35/e1'
    """
    return f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"


def _files(read: dict[str, Any] | None) -> dict[str, Any]:
    """``{path: {"data": ...}}`` of ``exp show`` without the files it could not read."""
    return {path: got["data"] for path, got in (read or {}).items() if "data" in got}


def _params(read: dict[str, Any] | None) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for data in _files(read).values():
        flat.update(flatten(data))
    return flat


def _hashes(entries: dict[str, Any] | None) -> dict[str, str]:
    return {path: entry.hash for path, entry in (entries or {}).items() if entry.hash}


def _record(
    key: str,
    rev: str,
    name: str | None,
    baseline: str,
    state: str,
    data: Any,
    branch: str | None = None,
) -> ExpRecord:
    return ExpRecord(
        key=key,
        rev=rev,
        name=name,
        baseline=baseline,
        state=state,
        branch=branch,
        timestamp=getattr(data, "timestamp", None),
        params=_params(getattr(data, "params", None)),
        metrics=qualified_metrics(_files(getattr(data, "metrics", None))),
        deps=_hashes(getattr(data, "deps", None)),
        outs=_hashes(getattr(data, "outs", None)),
    )


def branch_length(root: Path) -> int:
    """How many commits HEAD's branch has (``exp show --num`` to see them all)."""
    out = run_git(root, ["rev-list", "--count", "HEAD"])
    return int(out.stdout.decode().strip() or 0) if out.returncode == 0 else 1


def read_experiments(repo: Repo, num: int) -> list[ExpRecord]:
    """The last ``num`` commits of the branch that have results, and every experiment
    of each (queued ones included), oldest commit first, each commit before its
    experiments."""
    records = []
    for baseline in repo.experiments.show(num=num):
        if baseline.rev == "workspace" or baseline.data is None:
            continue
        commit = _record(
            f"commit:{baseline.rev}",
            baseline.rev,
            None,
            baseline.rev,
            STATE_DONE,
            baseline.data,
            branch=baseline.name,
        )
        records.append([commit] if commit.metrics else [])
        for exp_range in baseline.experiments or []:
            latest = exp_range.revs[0] if exp_range.revs else None
            name = exp_range.name or (latest.name if latest else None)
            if latest is None or not name:
                continue
            executor = exp_range.executor
            state = executor.state if executor is not None else STATE_DONE
            if latest.error is not None and state == STATE_DONE:
                state = "failed"
            key = exp_ref(baseline.rev, name)
            records[-1].append(_record(key, latest.rev, name, baseline.rev, state, latest.data))
    return [record for group in reversed(records) for record in group]

"""Listing recorded runs, newest first, filtered by stage, data version, commit, status.

Every filter is a condition of MLflow's own search (``tags.`dvc.dep.<path>` ...``),
answered by the store's indexes: a SQLite store of 10,000 runs answers in a fraction
of a second (``benchmarks/runs_lookup.py``), where reading every run would take
minutes. MLflow's filter has no ``OR``: a filter that can match two tags (a path as a
dependency or as an output) is two searches, merged.

In a SQLite store the same conditions are read without importing mlflow (1.7 s or more
on its own), through the MLflow adapter's read-only query: the whole command then takes
a fraction of a second. MLflow answers whenever that query cannot (a server, a schema
this MLflow does not know, an experiment that does not exist).
"""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import DvflowError
from dvflow.integrations.mlflow_schema import TagCondition, search_runs_sqlite
from dvflow.restore.lookup import filter_literal, open_experiment
from dvflow.tracking import schema as tags
from dvflow.tracking.store import sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from dvflow.workspace import Workspace

STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
KINDS = (tags.KIND_PIPELINE, tags.KIND_STAGE, tags.KIND_SCRIPT)
DEFAULT_LIMIT = 20
_FULL_COMMIT = 40


class BadFilterError(DvflowError):
    """A filter of ``dvflow runs`` cannot be used."""

    exit_code = 2


@dataclass(frozen=True)
class RunQuery:
    """What ``dvflow runs`` is asked: every field given narrows the list.

    ``data`` is a path relative to the project root, ``data_hash`` a DVC hash (or a
    prefix of one) of it; ``commits`` the full commit ids and ``trees`` the tree ids of
    the commit asked for (a run made from a dirty tree that was committed later has the
    commit's tree as its fingerprint).
    """

    stage: str | None = None
    data: str | None = None
    data_hash: str | None = None
    commits: tuple[str, ...] = ()
    trees: tuple[str, ...] = ()
    status: str | None = None
    kind: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class RunSummary:
    """One row of the table of runs."""

    run_id: str
    name: str
    kind: str | None
    status: str
    commit: str | None
    dirty: bool
    start_time: int
    stage: str | None = None
    parent_run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


def _summary(
    run_id: str,
    name: str,
    status: str,
    start_time: int,
    run_tags: dict[str, str],
    metrics: dict[str, float],
) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        name=name,
        kind=run_tags.get(tags.KIND),
        status=status,
        commit=run_tags.get(tags.GIT_COMMIT),
        dirty=run_tags.get(tags.GIT_DIRTY) == "true",
        start_time=start_time,
        stage=run_tags.get(tags.DVC_STAGE),
        parent_run_id=run_tags.get(tags.PARENT_RUN_ID),
        metrics=metrics,
    )


def summarize(run: Run) -> RunSummary:
    """The row of ``run`` in a table of runs."""
    return _summary(
        run.info.run_id,
        run.info.run_name or "",
        run.info.status,
        run.info.start_time or 0,
        dict(run.data.tags),
        dict(run.data.metrics),
    )


def _literal(value: str, what: str) -> str:
    literal = filter_literal(value)
    if literal is None:
        raise BadFilterError(
            f"{what} {value!r} holds both kinds of quotes: MLflow cannot search it."
        )
    return literal


def _tag(name: str) -> str:
    if "`" in name:
        raise BadFilterError(f"{name!r} holds a backtick: MLflow cannot search that tag.")
    return f"tags.`{name}`"


def filters(query: RunQuery) -> list[str]:
    """The MLflow filter strings whose results, merged, answer ``query``.

    >>> for f in filters(RunQuery(stage="train", data="data/raw.csv")):
    ...     print(f)
    tags.`dvc.stage` = 'train' AND tags.`dvc.dep.data/raw.csv` LIKE '%'
    tags.`dvc.stage` = 'train' AND tags.`dvc.out.data/raw.csv` LIKE '%'
    """
    common: list[str] = []
    if query.stage:
        common.append(f"{_tag(tags.DVC_STAGE)} = {_literal(query.stage, 'stage')}")
    if query.kind:
        common.append(f"{_tag(tags.KIND)} = {_literal(query.kind, 'kind')}")
    if query.status:
        common.append(f"attributes.status = {_literal(query.status.upper(), 'status')}")
    alternatives: list[list[str]] = []
    if query.data:
        # Any version: LIKE '%' (MLflow 3.0 has no IS NOT NULL for tags).
        value = f"LIKE {_literal((query.data_hash or '') + '%', 'hash')}"
        alternatives.append(
            [
                f"{_tag(prefix + query.data)} {value}"
                for prefix in (tags.DVC_DEP_PREFIX, tags.DVC_OUT_PREFIX)
            ]
        )
    # A full id is matched exactly; a short one (of a commit git does not have) as a prefix.
    made_at = [
        f"{_tag(tags.GIT_COMMIT)} = {_literal(c, 'commit')}"
        if len(c) == _FULL_COMMIT
        else f"{_tag(tags.GIT_COMMIT)} LIKE {_literal(c + '%', 'commit')}"
        for c in query.commits
    ]
    made_at += [f"{_tag(tags.FINGERPRINT)} = {_literal(t, 'tree')}" for t in query.trees]
    if made_at:
        alternatives.append(made_at)
    combos = list(itertools.product(*alternatives)) or [()]
    return [" AND ".join([*common, *combo]) for combo in combos]


def tag_groups(query: RunQuery) -> list[list[TagCondition]]:
    """The tag conditions of ``query`` (its status aside): in every group, one holds.

    The same conditions as ``filters``, for the SQLite read that spares mlflow's import.

    >>> [[c.key for c in group] for group in tag_groups(RunQuery(data="x.csv"))]
    [['dvc.dep.x.csv', 'dvc.out.x.csv']]
    """
    groups: list[list[TagCondition]] = []
    if query.stage:
        groups.append([TagCondition(tags.DVC_STAGE, query.stage)])
    if query.kind:
        groups.append([TagCondition(tags.KIND, query.kind)])
    if query.data:
        groups.append(
            [
                TagCondition(prefix + query.data, query.data_hash, prefix=True)
                for prefix in (tags.DVC_DEP_PREFIX, tags.DVC_OUT_PREFIX)
            ]
        )
    made_at = [
        TagCondition(tags.GIT_COMMIT, c, prefix=len(c) != _FULL_COMMIT) for c in query.commits
    ]
    made_at += [TagCondition(tags.FINGERPRINT, t) for t in query.trees]
    if made_at:
        groups.append(made_at)
    return groups


def search_sqlite(db: Path, experiment: str, query: RunQuery) -> list[RunSummary] | None:
    """The runs that answer ``query`` in the SQLite store ``db``, read without mlflow;
    None when MLflow must answer instead."""
    status = query.status.upper() if query.status else None
    rows = search_runs_sqlite(
        db, experiment, all_of=tag_groups(query), status=status, limit=query.limit
    )
    if rows is None:
        return None
    return [
        _summary(row.run_id, row.name, row.status, row.start_time, row.tags, row.metrics)
        for row in rows
    ]


def search(client: MlflowClient, experiment_ids: list[str], query: RunQuery) -> list[Run]:
    """The runs that answer ``query``, newest first, at most ``query.limit``."""
    found: dict[str, Run] = {}
    for condition in filters(query):
        for run in client.search_runs(
            experiment_ids,
            condition,
            max_results=query.limit,
            order_by=["attributes.start_time DESC"],
        ):
            found[run.info.run_id] = run
    newest = sorted(found.values(), key=lambda r: (-(r.info.start_time or 0), r.info.run_id))
    return newest[: query.limit]


def _git(root: Path, *args: str) -> str | None:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def commit_and_tree(root: Path, rev: str) -> tuple[str, str | None]:
    """The full commit id and tree id ``rev`` names in the repository at ``root``.

    A revision git does not know (a commit recorded elsewhere) is used as written:
    runs are matched on it alone (a short one as a prefix).
    """
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if commit is None:
        return rev, None
    return commit, _git(root, "rev-parse", f"{commit}^{{tree}}")


def data_path(root: Path, path: str) -> str:
    """``path`` (as typed, relative to the current folder) relative to the project root,
    the way ``dvc.dep.<path>`` tags name it."""
    absolute = (Path.cwd() / path).resolve()
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()  # outside the project: as the user wrote it


def list_runs(
    workspace: Workspace,
    *,
    stage: str | None = None,
    data: str | None = None,
    commit: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[RunSummary]:
    """The runs of the workspace's experiment, newest first.

    Args:
        workspace: the project and where its runs are.
        stage: only runs of this DVC stage (its address, ``train`` or ``train@0``).
        data: ``PATH`` (runs that used or produced it, any version) or ``PATH@HASH``
            (that version; a prefix of the hash is enough).
        commit: a git revision: runs made from that commit, or from a dirty tree
            identical to it.
        status: an MLflow run status (``FINISHED``, ``FAILED``...).
        kind: ``pipeline``, ``stage`` or ``script``.
        limit: at most this many runs.

    Raises:
        ExperimentNotFoundError: the experiment does not exist.
        BadFilterError: a filter MLflow cannot search.
    """
    if limit < 1:
        raise BadFilterError(f"--limit must be at least 1, not {limit}.")
    root = workspace.project.root
    path, data_hash = None, None
    if data:
        path, _, data_hash = data.rpartition("@") if "@" in data else (data, "", "")
        path = data_path(root, path)
    commits: tuple[str, ...] = ()
    trees: tuple[str, ...] = ()
    if commit:
        full, tree = commit_and_tree(root, commit)
        commits, trees = (full,), (tree,) if tree else ()
    query = RunQuery(
        stage=stage,
        data=path,
        data_hash=data_hash or None,
        commits=commits,
        trees=trees,
        status=status,
        kind=kind,
        limit=limit,
    )
    filters(query)  # refuses what MLflow could not search, on either path
    db = sqlite_path(workspace.tracking_uri)
    if db is not None:
        fast = search_sqlite(db, workspace.experiment, query)
        if fast is not None:
            return fast
    client, experiment_ids = open_experiment(workspace)
    return [summarize(run) for run in search(client, experiment_ids, query)]

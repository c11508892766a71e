"""``dvflow exp sync``: every DVC experiment and every commit of the branch with results
becomes, or updates, one MLflow run.

A run is found again by its key (tag ``dvflow.sync.key``: the experiment's git ref, or
``commit:<sha>``), so syncing twice creates nothing new, and a sync cut off halfway is
completed by the next one: each run is created with its key first, then given what it
lacks. The stage runs already recorded for an experiment (tag ``dvc.exp.name``, by
``dvflow.start_run()`` or dvflow's run context provider) become its children.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import __version__
from dvflow.experiments.reading import ExpRecord, branch_length, read_experiments
from dvflow.snapshot.gitindex import run_git
from dvflow.tracking import schema as tags
from dvflow.tracking.writer import context_tags, log_tags_and_params
from dvflow.workspace import Workspace

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

# DVC's experiment states (ExpExecutor.state) -> MLflow run statuses.
_STATUS = {
    "queued": "SCHEDULED",
    "running": "RUNNING",
    "success": "FINISHED",
    "failed": "FAILED",
}


@dataclass
class SyncedRun:
    """What the sync did with one experiment or commit."""

    key: str
    name: str
    run_id: str
    action: str  # "created", "updated" or "unchanged"
    state: str
    linked: list[str] = field(default_factory=list)


@dataclass
class SyncResult:
    """What ``dvflow exp sync`` did, in ``dvc exp show``'s order."""

    experiment: str
    runs: list[SyncedRun]

    def count(self, action: str) -> int:
        """How many runs the sync ``created``, ``updated`` or left ``unchanged``."""
        return sum(1 for r in self.runs if r.action == action)


def _trees(root: Path, revs: list[str]) -> dict[str, str]:
    """commit -> tree id (the fingerprint of a commit), in one git call."""
    if not revs:
        return {}
    out = run_git(root, ["log", "--no-walk=unsorted", "--format=%H %T", *revs])
    pairs = [line.split() for line in out.stdout.decode().splitlines() if line.strip()]
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def _run_tags(record: ExpRecord, tree: str | None) -> dict[str, str]:
    found = {
        tags.SYNC_KEY: record.key,
        tags.KIND: tags.KIND_EXPERIMENT if record.name else tags.KIND_COMMIT,
        tags.VERSION: __version__,
        tags.EXP_STATE: record.state,
        tags.DVC_EXP_BASELINE: record.baseline,
        **{tags.DVC_DEP_PREFIX + path: h for path, h in record.deps.items()},
        **{tags.DVC_OUT_PREFIX + path: h for path, h in record.outs.items()},
    }
    if record.name:
        found[tags.DVC_EXP_NAME] = record.name
        found[tags.DVC_EXP_REF] = record.key
    if record.branch:
        found[tags.GIT_BRANCH] = record.branch
    # A queued experiment's rev is DVC's stash entry, not a commit of the project.
    if record.state != "queued" and tree:
        found[tags.GIT_COMMIT] = record.rev
        found[tags.FINGERPRINT] = tree
        found[tags.GIT_DIRTY] = found[tags.MLFLOW_GIT_DIRTY] = "false"
    return found


def _run_name(record: ExpRecord) -> str:
    if record.name:
        return record.name
    return f"{record.branch or 'commit'}@{record.rev[:7]}"


def _existing(client: MlflowClient, experiment_id: str) -> dict[str, Run]:
    """The runs earlier syncs made in the experiment, by key."""
    found: dict[str, Run] = {}
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{tags.SYNC_KEY}` LIKE '%'",
            max_results=1000,
            page_token=token,
        )
        for run in page:
            found.setdefault(run.data.tags[tags.SYNC_KEY], run)
        token = page.token
        if not token:
            return found


def _stage_runs(client: MlflowClient, experiment_id: str, record: ExpRecord) -> list[Run]:
    """Runs recorded inside the experiment (its stages, its scripts), not synced ones."""
    name = record.name
    assert name is not None
    quoted = name.replace("\\", "\\\\").replace("'", "\\'")
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{tags.DVC_EXP_NAME}` = '{quoted}'", max_results=1000
    )
    return [
        run
        for run in runs
        if tags.SYNC_KEY not in run.data.tags
        and run.data.tags.get(tags.DVC_EXP_BASELINE, record.baseline) == record.baseline
    ]


def _sync_one(
    client: MlflowClient,
    experiment_id: str,
    record: ExpRecord,
    tree: str | None,
    existing: Run | None,
    user: str | None,
) -> SyncedRun:
    from mlflow.entities import Metric

    wanted_tags = _run_tags(record, tree)
    stamp = int(record.timestamp.timestamp() * 1000) if record.timestamp else None
    action = "unchanged"
    if existing is None:
        # The key first: a sync cut off after this finds the run and completes it.
        run = client.create_run(
            experiment_id,
            start_time=stamp,
            tags={**context_tags("dvflow exp sync", user), tags.SYNC_KEY: record.key},
            run_name=_run_name(record),
        )
        existing, action = run, "created"
    run_id = existing.info.run_id
    data = client.get_run(run_id).data if action == "created" else existing.data
    missing_tags = {k: v for k, v in wanted_tags.items() if data.tags.get(k) != v}
    missing_params = {k: v for k, v in record.params.items() if k not in data.params}
    metrics = [
        Metric(k, v, stamp or 0, 0) for k, v in record.metrics.items() if data.metrics.get(k) != v
    ]
    if missing_tags or missing_params:
        log_tags_and_params(client, run_id, missing_tags, missing_params)
    if metrics:
        client.log_batch(run_id, metrics=metrics, synchronous=True)
    status = _STATUS.get(record.state, "RUNNING")
    if existing.info.status != status or action == "created":
        if status in ("FINISHED", "FAILED"):
            client.set_terminated(run_id, status)
        else:
            client.update_run(run_id, status=status)
    changed = bool(missing_tags or missing_params or metrics) or existing.info.status != status
    if action == "unchanged" and changed:
        action = "updated"
    synced = SyncedRun(record.key, _run_name(record), run_id, action, record.state)
    if record.name:
        for child in _stage_runs(client, experiment_id, record):
            if tags.PARENT_RUN_ID not in child.data.tags:
                client.set_tag(child.info.run_id, tags.PARENT_RUN_ID, run_id)
                if synced.action == "unchanged":
                    synced.action = "updated"
            if child.data.tags.get(tags.PARENT_RUN_ID, run_id) == run_id:
                synced.linked.append(child.info.run_id)
    return synced


def sync_experiments(
    start: Path | None = None, *, experiment: str | None = None, num: int | None = None
) -> SyncResult:
    """Make every DVC experiment and every commit of the branch with results one MLflow
    run (created, or completed), in the project's store and experiment.

    Args:
        start: a folder of the project (default: the current folder).
        experiment: the MLflow experiment (default: as ``dvflow repro`` resolves it).
        num: how many commits of the branch to read (default: all of them).

    Raises:
        NotAProjectError: not inside a DVC project.
        TrackingStoreError: the store cannot be reached or created.
    """
    import getpass

    from dvc.repo import Repo

    workspace = Workspace.find(start, require_dvc=True, experiment=experiment)
    root = workspace.project.root
    with Repo(str(root)) as repo:
        records = read_experiments(repo, num or branch_length(root))
    session = workspace.session()
    client, experiment_id = session.client, session.experiment_id
    trees = _trees(root, [r.rev for r in records if r.state != "queued"])
    existing = _existing(client, experiment_id)
    try:
        user: str | None = getpass.getuser()
    except (KeyError, OSError):
        user = None
    runs = [
        _sync_one(client, experiment_id, r, trees.get(r.rev), existing.get(r.key), user)
        for r in records
    ]
    return SyncResult(workspace.experiment, runs)


def as_dict(result: SyncResult) -> dict[str, Any]:
    """The JSON form ``dvflow exp sync --json`` prints."""
    return {
        "experiment": result.experiment,
        "created": result.count("created"),
        "updated": result.count("updated"),
        "unchanged": result.count("unchanged"),
        "runs": [r.__dict__ for r in result.runs],
    }

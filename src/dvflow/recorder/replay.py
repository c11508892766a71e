"""``dvflow sync``: replay the spooled journals into the store, and close abandoned runs.

A journal (``spool.py``) holds the very messages the recorder process reads, so a
replay is the recorder's own work done later, by the same ``Recorder``, in resume
mode: the invocation's runs that already reached the store (created live before the
recorder died, or by a sync cut off halfway) are found by their tags
(``dvflow.invocation``, then ``dvc.stage``) and completed, never created twice. A
journal is deleted only once its replay wrote everything, so running ``dvflow sync``
again (or after a kill) completes what was missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.errors import TrackingStoreError, one_line
from dvflow.recorder.recording import Recorder, close_abandoned
from dvflow.recorder.spool import (
    SCRIPTS_DB,
    Spooled,
    read_journal,
    waiting,
)
from dvflow.tracking import schema as tags
from dvflow.tracking.store import display_uri, experiment_exists
from dvflow.workspace import Session, Target, open_session

if TYPE_CHECKING:
    from dvflow.workspace import Workspace


@dataclass
class Synced:
    """One journal written into the store."""

    invocation: str
    parent_run_id: str | None
    runs: dict[str, str]
    warnings: list[str] = field(default_factory=list)


@dataclass
class SyncReport:
    """What ``dvflow sync`` did."""

    tracking_uri: str
    synced: list[Synced] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)


def replay(spooled: Spooled, session: Session) -> Synced:
    """Write one journal's runs into the store of ``session``; idempotent.

    Raises:
        Exception: whatever the store raised (the journal is kept).
    """
    from dvflow.snapshot import snapshot_from_dict
    from dvflow.snapshot.environment import read_environment

    _import_script_runs(spooled, session)
    recorder = Recorder(spooled.start, session, resume=True)
    for outcome in spooled.stages:
        recorder.handle(outcome)
    finish = spooled.finish
    if finish is None:
        # dvflow's process was killed before the pipeline ended: what it did is
        # recorded, and the invocation ends KILLED.
        recorder.close_open_runs("KILLED", strict=True)
    else:
        snapshot = None
        if finish.snapshot:
            recorded = finish.snapshot.get("environment") or {}
            # A journal written after a failure holds the environment of the run; one
            # cut short does not, and the current one is the best there is.
            if recorded.get("python"):
                environment = None
            else:
                environment = read_environment(Path(spooled.start.root))
            snapshot = snapshot_from_dict(finish.snapshot, environment)
        recorder.finish(finish, snapshot)
    return Synced(spooled.invocation, recorder.parent_run_id, recorder.recorded, recorder.warnings)


def scripts_store(spooled: Spooled) -> Path:
    """The local store that stage scripts wrote to while the tracking store was away."""
    return spooled.path.parent / SCRIPTS_DB


def _import_script_runs(spooled: Spooled, session: Session) -> None:
    """Copy the runs that the invocation's stage scripts logged themselves (into the
    local store beside the spool) to the tracking store, where the recorder adopts them
    as their stages' runs. Each copy is tagged ``dvflow.spool.id`` with the original
    run's id: found again, it is completed, never copied twice."""
    import tempfile

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    db = scripts_store(spooled)
    if not db.is_file():
        return
    local = MlflowClient(f"sqlite:///{db}")
    found = local.search_runs(
        [e.experiment_id for e in local.search_experiments()],
        filter_string=f"tags.`{tags.INVOCATION}` = '{spooled.invocation}'",
        order_by=["attributes.start_time ASC"],
    )
    client = session.client
    copies: dict[str, str] = {}
    for run in found:
        source = run.info.run_id
        existing = client.search_runs(
            [session.experiment_id], filter_string=f"tags.`{tags.SPOOL_ID}` = '{source}'"
        )
        run_tags = {k: v for k, v in run.data.tags.items() if k != tags.PARENT_RUN_ID}
        parent = copies.get(run.data.tags.get(tags.PARENT_RUN_ID, ""))
        if parent:
            run_tags[tags.PARENT_RUN_ID] = parent
        if existing:
            target = existing[0].info.run_id
        else:
            target = client.create_run(
                session.experiment_id,
                start_time=run.info.start_time,
                tags={**run_tags, tags.SPOOL_ID: source},
                run_name=run.info.run_name,
            ).info.run_id
        copies[source] = target
        metrics = [
            Metric(m.key, m.value, m.timestamp, m.step)
            for key in run.data.metrics
            for m in local.get_metric_history(source, key)
        ]
        params = [Param(k, v) for k, v in run.data.params.items()]
        client.log_batch(
            target, metrics=metrics, params=params, tags=[RunTag(k, v) for k, v in run_tags.items()]
        )
        with tempfile.TemporaryDirectory() as folder:
            if local.list_artifacts(source):
                client.log_artifacts(target, local.download_artifacts(source, "", folder))
        client.set_terminated(target, run.info.status, end_time=run.info.end_time)


def replay_journal(path: Path, target: Target) -> Synced:
    """Replay the journal at ``path`` into ``target`` and delete it once written."""
    spooled = read_journal(path)
    session = open_session(Target(target.tracking_uri, spooled.start.experiment, target.artifacts))
    synced = replay(spooled, session)
    path.unlink()
    return synced


def sync_spool(workspace: Workspace) -> SyncReport:
    """Upload every journal of the project to its store, oldest first, and close the
    runs abandoned by a killed ``dvflow repro``.

    Raises:
        TrackingStoreError: the store cannot be reached or refused a write; the journals
            not written yet are kept (run ``dvflow sync`` again).
    """
    target = workspace.target
    uri = display_uri(target.tracking_uri)
    report = SyncReport(uri)
    sessions: dict[str, Session] = {}
    # Closing abandoned runs never creates a store or an experiment that is not there.
    if experiment_exists(target.tracking_uri, workspace.experiment):
        session = workspace.session()
        sessions[workspace.experiment] = session
        report.abandoned = close_abandoned(session.client, session.experiment_id)
    for spooled in waiting(workspace.project.home):
        if spooled.in_progress:
            report.in_progress.append(spooled.invocation)
            continue
        name = spooled.start.experiment
        try:
            if name not in sessions:
                sessions[name] = open_session(Target(target.tracking_uri, name, target.artifacts))
            report.synced.append(replay(spooled, sessions[name]))
        except TrackingStoreError:
            raise
        except Exception as exc:
            raise TrackingStoreError(
                uri,
                f"syncing invocation {spooled.invocation} failed ({type(exc).__name__}: "
                f"{one_line(exc)}); it stays in the spool, run 'dvflow sync' again",
            ) from exc
        spooled.path.unlink()
    return report

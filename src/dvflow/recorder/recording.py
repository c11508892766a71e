"""What the recorder writes: one ``dvflow repro`` invocation's runs in MLflow.

One parent run (``dvflow.kind=pipeline``) is created lazily, when the first stage
actually runs, so an up-to-date pipeline leaves no run behind. A stage's run is created
RUNNING as DVC starts its command (``StageStarted``), shown live while it runs
(``live.py``), and completed when it ends (``StageOutcome``); a stage that never
started (skipped, restored from DVC's run cache) gets its run then. The recorder
process (``process.py``) feeds it live; ``dvflow sync`` replays a journal into it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import one_line
from dvflow.recorder.live import LiveView
from dvflow.recorder.protocol import (
    Finish,
    StageOutcome,
    StageStarted,
    StageStatus,
    Start,
)
from dvflow.recorder.spool import process_alive
from dvflow.tracking import schema as tags
from dvflow.tracking.store import sqlite_path
from dvflow.tracking.writer import (
    context_tags,
    data_tags,
    log_data_inputs,
    log_metrics,
    log_tags_and_params,
    result_tags,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from dvflow.snapshot import Snapshot
    from dvflow.snapshot.results import Results
    from dvflow.workspace import Session

STDERR_ARTIFACT = "stderr-tail.txt"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Recorder:
    """Records one ``dvflow repro`` invocation in MLflow."""

    def __init__(self, start: Start, session: Session, *, resume: bool = False) -> None:
        self.root = Path(start.root)
        # Replaying a journal (dvflow sync): the invocation's runs that reached the
        # store already are completed, never created twice.
        self.resume = resume
        self.start = start
        self.session = session
        self.invocation = start.invocation
        self.base_tags = start.base_tags
        self.parent_run_id: str | None = None
        self.recorded: dict[str, str] = {}  # stage address -> run id
        self.warnings: list[str] = []
        self._pending: list[StageOutcome] = []
        # Long step series are written straight into a SQLite store's tables.
        self._sqlite_db = sqlite_path(session.target.tracking_uri)
        # The stages running now (replaying a journal, nothing is live).
        monitor = start.system_metrics and not resume
        self.live = LiveView(
            self.root, self._log_metrics, tracking_uri=start.tracking_uri if monitor else None
        )

    @property
    def client(self) -> MlflowClient:
        return self.session.client

    def warm_up(self) -> None:
        """Run the store's queries once before the first stage is reported.

        SQLAlchemy compiles each kind of query the first time it runs (a fifth of a
        second for the first run created here); doing it while DVC is still busy keeps
        it off the end of the pipeline.
        """
        self.client.get_experiment(self.session.experiment_id)
        self._script_runs("")
        # A run left RUNNING by a `dvflow repro` killed with its recorder (SIGKILL of
        # the whole group, a lost machine) is closed by the next one that sees it.
        for run_id in close_abandoned(self.client, self.session.experiment_id):
            self.warnings.append(f"run {run_id} was left RUNNING by a killed dvflow: ended KILLED")

    def stage_started(self, started: StageStarted) -> str:
        """Create the stage's run, RUNNING, under the parent (created now if need be);
        its step files are streamed into it from now on. Returns the run's id."""
        self._ensure_parent()
        assert self.parent_run_id is not None
        run_id = self._resumed_run(started.address) if self.resume else None
        if run_id is None:
            new = self._new_stage_run(started.address, started.started, started.command)
            run_id = new.info.run_id
        self.recorded[started.address] = run_id
        if not self.resume:
            self.live.begin(started.address, run_id, started.streams, started.started)
        return run_id

    def _new_stage_run(self, address: str, started: float, command: str | None) -> Run:
        """Create a stage's run under the parent.

        Every tag that finds it again is set at creation: a killed invocation's run is
        closed by close_open_runs, or by close_abandoned (dvflow.process).
        """
        assert self.parent_run_id is not None
        return self.client.create_run(
            self.session.experiment_id,
            start_time=_ms(started),
            run_name=address,
            tags={
                **self._context(command or address),
                **self.base_tags,
                tags.INVOCATION: self.invocation,
                tags.DVC_STAGE: address,
                tags.KIND: tags.KIND_STAGE,
                tags.PARENT_RUN_ID: self.parent_run_id,
            },
        )

    def _resumed_run(self, address: str) -> str | None:
        """Replaying a journal: the stage's run if it reached the store live."""
        for run in self._script_runs(address):
            if run.data.tags.get(tags.PARENT_RUN_ID) == self.parent_run_id and (
                run.data.tags.get(tags.KIND) == tags.KIND_STAGE
            ):
                return str(run.info.run_id)
        return None

    def handle(self, outcome: StageOutcome) -> None:
        """Record one stage; skipped stages wait until a stage really runs."""
        self._pending.append(outcome)
        if self.parent_run_id is None and outcome.status is StageStatus.SKIPPED:
            return
        self._ensure_parent()
        self._flush_pending()

    def _ensure_parent(self) -> None:
        if self.parent_run_id is None and self.resume:
            found = self.client.search_runs(
                [self.session.experiment_id],
                filter_string=(
                    f"tags.`{tags.INVOCATION}` = '{self.invocation}' and "
                    f"tags.`{tags.KIND}` = '{tags.KIND_PIPELINE}'"
                ),
                max_results=1,
            )
            self.parent_run_id = found[0].info.run_id if found else None
        if self.parent_run_id is None:
            self._create_parent()

    def _flush_pending(self) -> None:
        for waiting in self._pending:
            self._record_stage(waiting)
            self.recorded[waiting.address] = waiting.run_id or ""
        self._pending.clear()

    def _context(self, source_name: str) -> dict[str, str]:
        return context_tags(source_name, self.start.user)

    def _create_parent(self) -> None:
        run = self.client.create_run(
            self.session.experiment_id,
            start_time=_ms(self.start.started_at),
            tags={
                **self._context(self.start.source_name),
                **self.base_tags,
                tags.KIND: tags.KIND_PIPELINE,
                tags.INVOCATION: self.invocation,
            },
            # Named as `dvc exp show` names the state (tracking.runname); a Start
            # without a name (an older dvflow's) keeps the old name.
            run_name=self.start.run_name or f"repro {time.strftime('%Y-%m-%d %H:%M:%S')}",
        )
        self.parent_run_id = run.info.run_id

    def _script_runs(self, address: str) -> list[Run]:
        """Runs that the stage's own code created (MLflow tagged them from
        MLFLOW_RUN_CONTEXT), oldest first."""
        quoted = address.replace("\\", "\\\\").replace("'", "\\'")
        found = self.client.search_runs(
            [self.session.experiment_id],
            filter_string=(
                f"tags.`{tags.INVOCATION}` = '{self.invocation}' and "
                f"tags.`{tags.DVC_STAGE}` = '{quoted}'"
            ),
            order_by=["attributes.start_time ASC"],
        )
        return [run for run in found if run.info.run_id != self.parent_run_id]

    def _record_stage(self, outcome: StageOutcome) -> None:
        assert self.parent_run_id is not None
        client = self.client
        script_runs = (
            self._script_runs(outcome.address)
            if self.resume or outcome.status is not StageStatus.SKIPPED
            else []
        )
        top = [r for r in script_runs if tags.PARENT_RUN_ID not in r.data.tags]
        # The stage's run, already recorded under this parent (replaying a journal).
        own = [
            r
            for r in script_runs
            if r.data.tags.get(tags.PARENT_RUN_ID) == self.parent_run_id
            and r.data.tags.get(tags.KIND) == tags.KIND_STAGE
        ]
        started, streamed = self.live.end(outcome.address)
        if started is not None or own:
            run = next((r for r in own if r.info.run_id == started), None) or (
                own[0] if own else client.get_run(started or "")
            )
            # The script's own runs (a second mlflow.start_run(), or one made before
            # the stage's run id reached it) become children of the stage's run.
            for extra in top:
                if extra.info.run_id != run.info.run_id:
                    client.set_tag(extra.info.run_id, tags.PARENT_RUN_ID, run.info.run_id)
        elif top:
            run = top[0]
            # Other top-level runs of the same script become children of the stage run.
            for extra in top[1:]:
                client.set_tag(extra.info.run_id, tags.PARENT_RUN_ID, run.info.run_id)
        else:
            run = self._new_stage_run(outcome.address, outcome.started, outcome.command)
        run_id = run.info.run_id
        outcome.run_id = run_id
        stage_tags = {
            **self.base_tags,
            **data_tags(outcome.versions),
            tags.KIND: tags.KIND_STAGE,
            tags.DVC_STAGE: outcome.address,
            tags.PARENT_RUN_ID: self.parent_run_id,
            tags.RUN_NAME: outcome.address,
            tags.INVOCATION: self.invocation,
            tags.STAGE_STATUS: outcome.status.value,
        }
        if outcome.status not in (StageStatus.SKIPPED, StageStatus.NOT_RUN):
            stage_tags[tags.STAGE_DURATION] = f"{outcome.ended - outcome.started:.3f}"
        if outcome.exit_code is not None:
            stage_tags[tags.STAGE_EXIT_CODE] = str(outcome.exit_code)
        log_tags_and_params(client, run_id, stage_tags, outcome.params)
        log_data_inputs(client, run_id, outcome.versions)
        if outcome.results is not None:
            # What the script logged itself stays as it logged it; of a history streamed
            # while the stage ran, only the steps not streamed yet are logged.
            if self.resume:
                # Replaying: the steps a live recorder streamed before it died are there.
                streamed = {
                    name: {m.step for m in client.get_metric_history(run_id, name)}
                    for name in outcome.results.series
                    if name in run.data.metrics
                }
            skip = set(run.data.metrics) - set(streamed)
            self._log_results_to(
                run_id, outcome.results, skip, _ms(outcome.ended), streamed=streamed
            )
        if outcome.stderr_tail or outcome.error:
            text = (outcome.error or "") + "\n" + (outcome.stderr_tail or "")
            client.log_text(run_id, text.strip() + "\n", f"{tags.ARTIFACT_DIR}/{STDERR_ARTIFACT}")
        current = client.get_run(run_id).info
        wanted = outcome.status.run_status
        if current.status != wanted:
            client.set_terminated(run_id, wanted, end_time=current.end_time or _ms(outcome.ended))

    def _log_results_to(
        self,
        run_id: str,
        results: Results,
        skip: set[str],
        stamp: int,
        *,
        streamed: dict[str, set[int]] | None = None,
    ) -> None:
        """Metrics, histories, images and plot data; a summary value whose history is
        logged (as DVCLive writes both) is not logged a second time, nor a step that
        was ``streamed`` while the stage ran."""
        from mlflow.entities import Metric

        streamed = streamed or {}
        metrics = [
            Metric(key, value, stamp, 0)
            for key, value in results.metrics.items()
            if key not in skip and key not in results.series
        ]
        for name, points in results.series.items():
            if name not in skip:
                done = streamed.get(name, set())
                metrics += [
                    Metric(name, value, stamp, step) for step, value in points if step not in done
                ]
        self._log_metrics(run_id, metrics)
        for path in [*results.images, *getattr(results, "data_plots", [])]:
            rel = (
                path.relative_to(self.root).parent.as_posix()
                if path.is_relative_to(self.root)
                else "."
            )
            self.client.log_artifact(run_id, str(path), rel if rel != "." else None)

    def _log_metrics(self, run_id: str, metrics: list[Any]) -> None:
        # Names MLflow refuses are mapped (or kept in an artifact), never fatal.
        log_metrics(self.client, run_id, metrics, sqlite_db=self._sqlite_db)

    def finish(self, finish: Finish, snapshot: Snapshot | None) -> None:
        """Complete and close the parent run (created now with ``force_parent``), and tag
        every run of the invocation with the code state it left."""
        if self.parent_run_id is None and finish.force_parent:
            self._ensure_parent()
            self._flush_pending()
        if self.parent_run_id is None:
            return
        from dvflow.snapshot.code import CodeVersion
        from dvflow.tracking.writer import record_snapshot

        parent = self.parent_run_id
        if snapshot is not None:
            record_snapshot(
                self.client, parent, snapshot, tags.KIND_PIPELINE, extra_files=finish.lineage
            )
        left = result_tags(CodeVersion(**finish.result_code)) if finish.result_code else {}
        if left:
            from mlflow.entities import RunTag

            for run_id in [parent, *filter(None, self.recorded.values())]:
                self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in left.items()])
        ended = _ms(finish.ended or time.time())
        if finish.results is not None:
            self._log_results_to(parent, finish.results, set(), ended)
        self.client.set_terminated(parent, finish.status, end_time=ended)

    def close_open_runs(self, status: str, *, strict: bool = False) -> None:
        """After an error, or when dvflow's process vanished: leave no run of this
        invocation RUNNING. What cannot be closed is said, not swallowed (raised with
        ``strict``)."""
        if self.parent_run_id is None:
            return
        ending = "FAILED" if status == "FINISHED" else status
        try:
            for run in self.client.search_runs(
                [self.session.experiment_id],
                filter_string=f"tags.`{tags.INVOCATION}` = '{self.invocation}'",
            ):
                if run.info.status == "RUNNING":
                    self.client.set_terminated(run.info.run_id, ending)
            if self.client.get_run(self.parent_run_id).info.status == "RUNNING":
                self.client.set_terminated(self.parent_run_id, ending)
        except Exception as exc:  # the store itself is what failed: report, go on
            if strict:
                raise
            self.warnings.append(
                f"could not close the runs of invocation {self.invocation} "
                f"({type(exc).__name__}: {one_line(exc)}); they may show RUNNING in MLflow"
            )


def close_abandoned(client: MlflowClient, experiment_id: str) -> list[str]:
    """End KILLED, tagged ``dvflow.abandoned=true``, the RUNNING runs of invocations whose
    ``dvflow repro`` process is gone (killed with everything around it). Returns the
    run ids closed."""
    from mlflow.entities import RunTag

    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    dead = {
        run.data.tags[tags.INVOCATION]
        for run in running
        if tags.PROCESS in run.data.tags
        and tags.INVOCATION in run.data.tags
        and not process_alive(run.data.tags[tags.PROCESS])
    }
    closed = []
    for run in running:
        if run.data.tags.get(tags.INVOCATION) in dead:
            run_id = run.info.run_id
            client.log_batch(run_id, tags=[RunTag(tags.ABANDONED, "true")])
            client.set_terminated(run_id, "KILLED")
            closed.append(run_id)
    return closed

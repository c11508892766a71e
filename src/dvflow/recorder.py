"""The tracking side of ``dvflow repro``: a thread that records stages while DVC runs.

DVC runs stages on the main thread; the recorder imports mlflow, opens the store and
writes runs on its own thread, so that the pipeline never waits for MLflow (importing
mlflow and opening a store costs seconds). Events arrive on a queue in DVC's execution
order; ``finish`` waits for the queue to drain and closes every run it opened.

One parent run (``dvflow.kind=pipeline``) is created lazily, when the first stage
actually runs, so an up-to-date pipeline leaves no run behind.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import tags
from dvflow.dataversion import DataVersion
from dvflow.gitstate import CodeVersion
from dvflow.results import Results, collect_results
from dvflow.session import Session, Target, open_session
from dvflow.tracking import data_tags, log_data_inputs, log_tags_and_params

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from dvflow.project import Project
    from dvflow.snapshot import Snapshot

# Stage status -> the MLflow status its run ends with.
RUN_STATUS = {
    "ran": "FINISHED",
    "restored": "FINISHED",
    "skipped": "FINISHED",
    "not-run": "KILLED",  # cancelled: a stage before it failed or was interrupted
    "failed": "FAILED",
    "killed": "KILLED",
}
STDERR_ARTIFACT = "stderr-tail.txt"


@dataclass
class StageOutcome:
    """What happened to one stage, as seen from DVC's side."""

    address: str
    status: str
    started: float
    ended: float
    versions: list[DataVersion]
    params: dict[str, Any]
    metric_files: list[Path] = field(default_factory=list)
    plot_files: list[Path] = field(default_factory=list)
    exit_code: int | None = None
    error: str | None = None
    stderr_tail: str | None = None
    run_id: str | None = None
    results: Results | None = None


@dataclass
class PipelineOutcome:
    """What the recorder made of an invocation."""

    parent_run_id: str | None
    stages: list[StageOutcome]
    metrics: dict[str, float]
    error: BaseException | None = None


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Recorder:
    """Records one ``dvflow repro`` invocation in MLflow from a background thread."""

    def __init__(
        self,
        project: Project,
        target: Target,
        invocation: str,
        code: CodeVersion | None,
        base_tags: dict[str, str],
        session: Session | None = None,
    ) -> None:
        self.project = project
        self.target = target
        self.invocation = invocation
        self.code = code
        self.base_tags = base_tags
        self.started_at = time.time()
        self._session = session
        self._events: queue.Queue[StageOutcome | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending: list[StageOutcome] = []
        self._done: list[StageOutcome] = []
        self.parent_run_id: str | None = None
        self.error: BaseException | None = None
        self._stop_status = "FINISHED"

    @property
    def started(self) -> bool:
        """Whether the background thread runs (it starts with the first stage that runs)."""
        return self._thread is not None

    def start(self) -> None:
        """Start importing mlflow and opening the store, in the background."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="dvflow-recorder", daemon=True)
            self._thread.start()

    def record(self, outcome: StageOutcome) -> None:
        """Queue a stage's outcome; returns at once."""
        self._events.put(outcome)

    # -- the background thread ------------------------------------------------------

    def _work(self) -> None:
        try:
            if self._session is None:
                self._session = open_session(self.target)
        except BaseException as exc:
            self.error = exc
        while True:
            outcome = self._events.get()
            if outcome is None:
                return
            if self.error is not None:
                self._done.append(outcome)
                continue
            try:
                self._handle(outcome)
            except BaseException as exc:
                self.error = exc
                self._done.append(outcome)

    @property
    def client(self) -> MlflowClient:
        assert self._session is not None
        return self._session.client

    def _handle(self, outcome: StageOutcome) -> None:
        if self.parent_run_id is None and outcome.status == "skipped":
            self._pending.append(outcome)
            return
        if self.parent_run_id is None:
            self._create_parent()
        self._pending.append(outcome)
        self._flush_pending()

    def _flush_pending(self) -> None:
        for waiting in self._pending:
            self._record_stage(waiting)
            self._done.append(waiting)
        self._pending.clear()

    def _create_parent(self) -> None:
        assert self._session is not None
        run = self.client.create_run(
            self._session.experiment_id,
            start_time=_ms(self.started_at),
            tags={
                **self.base_tags,
                tags.KIND: tags.KIND_PIPELINE,
                tags.INVOCATION: self.invocation,
            },
            run_name=f"repro {time.strftime('%Y-%m-%d %H:%M:%S')}",
        )
        self.parent_run_id = run.info.run_id

    def _script_runs(self, address: str) -> list[Run]:
        """Runs that the stage's own code created (MLflow tagged them from
        MLFLOW_RUN_CONTEXT), oldest first."""
        assert self._session is not None
        found = self.client.search_runs(
            [self._session.experiment_id],
            filter_string=(
                f"tags.`{tags.INVOCATION}` = '{self.invocation}' and "
                f"tags.`{tags.DVC_STAGE}` = '{address}'"
            ),
            order_by=["attributes.start_time ASC"],
        )
        return [run for run in found if run.info.run_id != self.parent_run_id]

    def _record_stage(self, outcome: StageOutcome) -> None:
        assert self._session is not None and self.parent_run_id is not None
        client = self.client
        script_runs = self._script_runs(outcome.address) if outcome.status != "skipped" else []
        top = [r for r in script_runs if tags.PARENT_RUN_ID not in r.data.tags]
        if top:
            run = top[0]
            # Other top-level runs of the same script become children of the stage run.
            for extra in top[1:]:
                client.set_tag(extra.info.run_id, tags.PARENT_RUN_ID, run.info.run_id)
        else:
            run = client.create_run(
                self._session.experiment_id,
                start_time=_ms(outcome.started),
                run_name=outcome.address,
            )
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
            tags.STAGE_STATUS: outcome.status,
        }
        if outcome.status not in ("skipped", "not-run"):
            stage_tags[tags.STAGE_DURATION] = f"{outcome.ended - outcome.started:.3f}"
        if outcome.exit_code is not None:
            stage_tags[tags.STAGE_EXIT_CODE] = str(outcome.exit_code)
        log_tags_and_params(client, run_id, stage_tags, outcome.params)
        log_data_inputs(client, run_id, outcome.versions)
        if outcome.status in ("ran", "restored", "failed"):
            self._log_results(run_id, outcome, run)
        if outcome.stderr_tail or outcome.error:
            text = (outcome.error or "") + "\n" + (outcome.stderr_tail or "")
            client.log_text(run_id, text.strip() + "\n", f"{tags.ARTIFACT_DIR}/{STDERR_ARTIFACT}")
        current = client.get_run(run_id).info
        wanted = RUN_STATUS[outcome.status]
        if current.status != wanted:
            client.set_terminated(run_id, wanted, end_time=current.end_time or _ms(outcome.ended))

    def _log_results(self, run_id: str, outcome: StageOutcome, run: Run) -> None:
        from mlflow.entities import Metric

        results = collect_results(outcome.metric_files, outcome.plot_files, self.project.root)
        outcome.results = results
        already = run.data.metrics
        stamp = _ms(outcome.ended)
        metrics = [
            Metric(key, value, stamp, 0)
            for key, value in results.metrics.items()
            if key not in already
        ]
        for name, points in results.series.items():
            if name in already:
                continue
            metrics += [Metric(name, value, stamp, step) for step, value in points]
        self._log_metrics(run_id, metrics)
        for image in results.images:
            rel = image.relative_to(self.project.root).parent.as_posix()
            self.client.log_artifact(run_id, str(image), rel if rel != "." else None)

    def _log_metrics(self, run_id: str, metrics: list[Any]) -> None:
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(
                run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH], synchronous=True
            )

    # -- the end --------------------------------------------------------------------

    def finish(
        self,
        status: str,
        snapshot: Snapshot | None,
        top_level: Results | None,
        lineage: dict[str, str],
        force_parent: bool = False,
    ) -> PipelineOutcome:
        """Wait for every queued stage, then complete and close the parent run.

        Args:
            status: the MLflow status of the invocation (FINISHED, FAILED, KILLED).
            snapshot: the pipeline-wide snapshot taken after the run.
            top_level: the top-level ``metrics:`` and ``plots:`` of the dvc.yaml files.
            lineage: artifact name -> text of the lineage picture.
            force_parent: create the parent run even if no stage ran (``--record``).
        """
        if self._thread is None and force_parent:
            self.start()
        if self._thread is None:
            return PipelineOutcome(None, list(self._pending), {})
        self._events.put(None)
        self._thread.join()
        if self.error is None:
            try:
                if self.parent_run_id is None and force_parent:
                    self._create_parent()
                    self._flush_pending()
                if self.parent_run_id is not None:
                    self._complete_parent(status, snapshot, top_level, lineage)
            except BaseException as exc:
                self.error = exc
        if self.error is not None:
            self._close_open_runs(status)
        stages = [*self._done, *self._pending]
        metrics: dict[str, float] = {}
        for outcome in stages:
            if outcome.results is not None:
                metrics.update(outcome.results.metrics)
        if top_level is not None:
            metrics.update(top_level.metrics)
        return PipelineOutcome(self.parent_run_id, stages, metrics, self.error)

    def _complete_parent(
        self,
        status: str,
        snapshot: Snapshot | None,
        top_level: Results | None,
        lineage: dict[str, str],
    ) -> None:
        from dvflow.tracking import record_snapshot

        parent = self.parent_run_id
        assert parent is not None
        if snapshot is not None:
            record_snapshot(self.client, parent, snapshot, tags.KIND_PIPELINE, extra_files=lineage)
        if top_level is not None:
            from mlflow.entities import Metric

            stamp = _ms(time.time())
            metrics = [Metric(k, v, stamp, 0) for k, v in top_level.metrics.items()]
            for name, points in top_level.series.items():
                metrics += [Metric(name, value, stamp, step) for step, value in points]
            self._log_metrics(parent, metrics)
            for image in top_level.images:
                rel = image.relative_to(self.project.root).parent.as_posix()
                self.client.log_artifact(parent, str(image), rel if rel != "." else None)
        self.client.set_terminated(parent, status)

    def _close_open_runs(self, status: str) -> None:
        """After a tracking error: leave no run of this invocation RUNNING."""
        if self._session is None or self.parent_run_id is None:
            return
        try:
            for run in self.client.search_runs(
                [self._session.experiment_id],
                filter_string=f"tags.`{tags.INVOCATION}` = '{self.invocation}'",
            ):
                if run.info.status == "RUNNING":
                    self.client.set_terminated(
                        run.info.run_id, "FAILED" if status == "FINISHED" else status
                    )
            self.client.set_terminated(self.parent_run_id, "FAILED")
        except Exception:
            pass

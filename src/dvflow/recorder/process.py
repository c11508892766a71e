"""The recorder process of ``dvflow repro``: it writes the runs while DVC runs stages.

DVC runs in dvflow's own process. MLflow is imported, the store opened and the runs
written here, in a separate process (``python -m dvflow.recorder.process``), started when the
pipeline starts: it uses the machine's other core, and never holds the GIL
that DVC's own work between stages needs. Events arrive as JSON lines on stdin (see
``outcome.py``), in DVC's execution order; the answer is one JSON line on stdout.

One parent run (``dvflow.kind=pipeline``) is created lazily, when the first stage
actually runs, so an up-to-date pipeline leaves no run behind. If dvflow's process
dies without saying how the pipeline ended, every run this process opened ends KILLED.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import one_line
from dvflow.recorder.protocol import StageOutcome, results_from_dict
from dvflow.snapshot.environment import read_environment
from dvflow.snapshot.results import Results
from dvflow.tracking import schema as tags
from dvflow.tracking.writer import data_tags, log_data_inputs, log_tags_and_params
from dvflow.workspace import Session, Target, open_session

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

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


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Recorder:
    """Records one ``dvflow repro`` invocation in MLflow."""

    def __init__(
        self,
        root: Path,
        session: Session,
        invocation: str,
        base_tags: dict[str, str],
        started_at: float,
    ) -> None:
        self.root = root
        self.session = session
        self.invocation = invocation
        self.base_tags = base_tags
        self.started_at = started_at
        self.parent_run_id: str | None = None
        self.recorded: dict[str, str] = {}  # stage address -> run id
        self._pending: list[StageOutcome] = []

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

    def handle(self, outcome: StageOutcome) -> None:
        """Record one stage; skipped stages wait until a stage really runs."""
        self._pending.append(outcome)
        if self.parent_run_id is None and outcome.status == "skipped":
            return
        if self.parent_run_id is None:
            self._create_parent()
        self._flush_pending()

    def _flush_pending(self) -> None:
        for waiting in self._pending:
            self._record_stage(waiting)
            self.recorded[waiting.address] = waiting.run_id or ""
        self._pending.clear()

    def _create_parent(self) -> None:
        run = self.client.create_run(
            self.session.experiment_id,
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
        script_runs = self._script_runs(outcome.address) if outcome.status != "skipped" else []
        top = [r for r in script_runs if tags.PARENT_RUN_ID not in r.data.tags]
        if top:
            run = top[0]
            # Other top-level runs of the same script become children of the stage run.
            for extra in top[1:]:
                client.set_tag(extra.info.run_id, tags.PARENT_RUN_ID, run.info.run_id)
        else:
            # Tagged at creation: if anything fails later, close_open_runs finds it.
            run = client.create_run(
                self.session.experiment_id,
                start_time=_ms(outcome.started),
                run_name=outcome.address,
                tags={tags.INVOCATION: self.invocation, tags.DVC_STAGE: outcome.address},
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
        if outcome.results is not None:
            # What the script logged itself stays as it logged it.
            skip = set(run.data.metrics)
            self._log_results_to(run_id, outcome.results, skip, _ms(outcome.ended))
        if outcome.stderr_tail or outcome.error:
            text = (outcome.error or "") + "\n" + (outcome.stderr_tail or "")
            client.log_text(run_id, text.strip() + "\n", f"{tags.ARTIFACT_DIR}/{STDERR_ARTIFACT}")
        current = client.get_run(run_id).info
        wanted = RUN_STATUS[outcome.status]
        if current.status != wanted:
            client.set_terminated(run_id, wanted, end_time=current.end_time or _ms(outcome.ended))

    def _log_results_to(self, run_id: str, results: Results, skip: set[str], stamp: int) -> None:
        """Metrics, histories and images; a summary value whose history is logged (as
        DVCLive writes both) is not logged a second time."""
        from mlflow.entities import Metric

        metrics = [
            Metric(key, value, stamp, 0)
            for key, value in results.metrics.items()
            if key not in skip and key not in results.series
        ]
        for name, points in results.series.items():
            if name not in skip:
                metrics += [Metric(name, value, stamp, step) for step, value in points]
        self._log_metrics(run_id, metrics)
        for image in results.images:
            rel = image.relative_to(self.root).parent.as_posix()
            self.client.log_artifact(run_id, str(image), rel if rel != "." else None)

    def _log_metrics(self, run_id: str, metrics: list[Any]) -> None:
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(
                run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH], synchronous=True
            )

    def finish(
        self,
        status: str,
        snapshot: Snapshot | None,
        results: Results | None,
        lineage: dict[str, str],
        force_parent: bool,
    ) -> None:
        """Complete and close the parent run (created now with ``force_parent``)."""
        if self.parent_run_id is None and force_parent:
            self._create_parent()
            self._flush_pending()
        if self.parent_run_id is not None:
            self._complete_parent(status, snapshot, results, lineage)

    def _complete_parent(
        self,
        status: str,
        snapshot: Snapshot | None,
        results: Results | None,
        lineage: dict[str, str],
    ) -> None:
        from dvflow.tracking.writer import record_snapshot

        parent = self.parent_run_id
        assert parent is not None
        if snapshot is not None:
            record_snapshot(self.client, parent, snapshot, tags.KIND_PIPELINE, extra_files=lineage)
        if results is not None:
            self._log_results_to(parent, results, set(), _ms(time.time()))
        self.client.set_terminated(parent, status)

    def close_open_runs(self, status: str) -> None:
        """After an error, or when dvflow's process vanished: leave no run of this
        invocation RUNNING."""
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
        except Exception:
            pass


def _serve(lines: Any, reply: Any) -> None:
    """Read events until ``finish`` (or end of input), write one JSON answer."""
    from dvflow.snapshot import snapshot_from_dict

    init = json.loads(next(lines))
    root = Path(init["root"])
    target = Target(
        init["tracking_uri"],
        init["experiment"],
        Path(init["artifacts"]) if init["artifacts"] else None,
    )
    recorder: Recorder | None = None
    error: str | None = None
    status = "KILLED"  # if dvflow's process vanishes without a word
    try:
        session = open_session(target)
        recorder = Recorder(
            root, session, init["invocation"], init["base_tags"], init["started_at"]
        )
        recorder.warm_up()
        environment = read_environment(root)
        for line in lines:
            event = json.loads(line)
            if event["type"] == "abort":
                return  # nothing ran: nothing to record, nobody waits for an answer
            if event["type"] == "stage":
                recorder.handle(StageOutcome.from_dict(event["outcome"]))
                continue
            status = event["status"]
            snapshot = (
                snapshot_from_dict(event["snapshot"], environment) if event["snapshot"] else None
            )
            results = results_from_dict(event["results"]) if event["results"] else None
            recorder.finish(status, snapshot, results, event["lineage"], event["force_parent"])
            break
        else:
            recorder.finish("KILLED", None, None, {}, False)
            recorder.close_open_runs("KILLED")
    except Exception as exc:
        error = f"{type(exc).__name__}: {one_line(exc)}"
        if recorder is not None:
            recorder.close_open_runs(status)
    answer = {
        "parent_run_id": recorder.parent_run_id if recorder else None,
        "runs": recorder.recorded if recorder else {},
        "error": error,
    }
    reply.write(json.dumps(answer) + "\n")
    reply.flush()


def main() -> None:
    """``python -m dvflow.recorder.process``: serve one invocation on stdin/stdout."""
    # Ctrl-C reaches the whole process group; dvflow's process decides how runs end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The answer goes on a private copy of stdout; anything else printed here (MLflow
    # prints run URLs for a tracking server) goes to stderr instead.
    answer = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    _serve(iter(sys.stdin.readline, ""), answer)
    # The answer is written and every run closed: skip the second that tearing down
    # mlflow's modules costs, which dvflow's process would otherwise wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

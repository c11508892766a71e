"""dvflow's side of the recorder process: start it, send it events, collect its answer.

Starting the process is cheap; it imports mlflow and opens the store on its own core
while DVC goes on. Sending an event writes one line to a pipe: it does not wait for
MLflow (unless an event larger than the pipe's buffer finds the recorder still busy).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from dvflow.errors import TrackingStoreError
from dvflow.recorder.protocol import PipelineOutcome, StageOutcome, results_to_dict
from dvflow.tracking.store import display_uri
from dvflow.workspace import Target

if TYPE_CHECKING:
    from dvflow.project import Project
    from dvflow.snapshot import Snapshot
    from dvflow.snapshot.results import Results


class RecorderLink:
    """Talks to one ``python -m dvflow.recorder.process`` process for one invocation."""

    def __init__(
        self, project: Project, target: Target, invocation: str, base_tags: dict[str, str]
    ) -> None:
        self.project = project
        self.target = target
        self.invocation = invocation
        self.base_tags = base_tags
        self.started_at = time.time()
        self.process: subprocess.Popen[str] | None = None
        self.outcomes: list[StageOutcome] = []
        # Where the recorder's own messages go (default: this process's stderr).
        self.stderr_fd: int | None = None

    @property
    def pid(self) -> int | None:
        """The recorder process's id, so that SIGTERM handling spares it."""
        return self.process.pid if self.process else None

    def start(self) -> None:
        """Start the recorder process; it loads mlflow in the background."""
        if self.process is not None:
            return
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dvflow.recorder.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_fd,
            text=True,
            cwd=self.project.root,
        )
        self._send(
            {
                "root": str(self.project.root),
                "tracking_uri": self.target.tracking_uri,
                "experiment": self.target.experiment,
                "artifacts": str(self.target.artifacts) if self.target.artifacts else None,
                "invocation": self.invocation,
                "base_tags": self.base_tags,
                "started_at": self.started_at,
            }
        )
        for earlier in self.outcomes:
            self._send({"type": "stage", "outcome": earlier.to_dict()})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process is not None
        stdin: IO[str] | None = self.process.stdin
        try:
            if stdin is not None:
                stdin.write(json.dumps(message) + "\n")
                stdin.flush()
        except BrokenPipeError:
            pass  # the recorder died; finish() reports it

    def record(self, outcome: StageOutcome) -> None:
        """Hand a stage's outcome to the recorder; returns at once."""
        self.outcomes.append(outcome)
        if self.process is not None:
            self._send({"type": "stage", "outcome": outcome.to_dict()})

    def finish(
        self,
        status: str,
        snapshot: Snapshot | None,
        results: Results | None,
        lineage: dict[str, str],
        force_parent: bool = False,
    ) -> PipelineOutcome:
        """Tell the recorder how the pipeline ended and wait for its answer.

        Args:
            status: the MLflow status of the invocation (FINISHED, FAILED, KILLED).
            snapshot: the pipeline-wide snapshot taken after the run.
            results: the pipeline's metrics and top-level plots, for the parent run.
            lineage: artifact name -> text of the lineage picture.
            force_parent: record a parent run even if no stage ran (``--record``).
        """
        metrics = _metrics(self.outcomes, results)
        if not force_parent and all(o.status == "skipped" for o in self.outcomes):
            self.abort()  # nothing ran: no run to record
            return PipelineOutcome(None, self.outcomes, metrics)
        self.start()
        snapshot_data = None
        if snapshot is not None:
            snapshot_data = {**snapshot.to_dict(), "git_diff": snapshot.git_diff}
        self._send(
            {
                "type": "finish",
                "status": status,
                "snapshot": snapshot_data,
                "results": results_to_dict(results) if results else None,
                "lineage": lineage,
                "force_parent": force_parent,
            }
        )
        answer = self._answer()
        runs = answer.get("runs", {})
        for outcome in self.outcomes:
            outcome.run_id = runs.get(outcome.address) or None
        return PipelineOutcome(
            answer.get("parent_run_id"), self.outcomes, metrics, answer.get("error")
        )

    def abort(self) -> None:
        """Stop the recorder without recording anything, and without waiting for it.

        Nothing was written yet (the parent run is created with the first stage that
        runs), so stopping it mid-import spares a second of CPU for nothing.
        """
        if self.process is None:
            return
        self._send({"type": "abort"})
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        if self.process.poll() is None:
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=0.5)

    def _answer(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        if self.process.stdin is not None:
            self.process.stdin.close()
        line = self.process.stdout.readline()
        self.process.stdout.close()
        code = self.process.wait()
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError:
            raise TrackingStoreError(
                display_uri(self.target.tracking_uri),
                f"the recorder process exited with code {code} without an answer",
            ) from None
        return answer


def _metrics(outcomes: list[StageOutcome], results: Results | None) -> dict[str, float]:
    """The headline metrics: every stage's, then the pipeline's."""
    metrics: dict[str, float] = {}
    for outcome in outcomes:
        if outcome.results is not None:
            metrics.update(outcome.results.metrics)
    if results is not None:
        metrics.update(results.metrics)
    return metrics

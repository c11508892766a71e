"""dvflow's side of the recorder process: start it, send it messages, collect its answer.

Starting the process is cheap; it imports mlflow on its own core while DVC goes on, and
opens the store only when it gets its ``Start`` message (so that nothing is created for
a project whose ``dvc.yaml`` turns out to be broken). Sending a message writes one line
to a pipe: it does not wait for MLflow.
"""

from __future__ import annotations

import contextlib
import getpass
import subprocess
import sys
import threading
import time
from typing import IO, TYPE_CHECKING

from dvflow.errors import TrackingStoreError
from dvflow.recorder.protocol import (
    Abort,
    Answer,
    Finish,
    Message,
    PipelineOutcome,
    ProtocolError,
    StageOutcome,
    StageStatus,
    Start,
    decode,
    encode,
)
from dvflow.tracking.store import display_uri

if TYPE_CHECKING:
    from dvflow.snapshot import Snapshot
    from dvflow.snapshot.code import CodeVersion
    from dvflow.snapshot.results import Results
    from dvflow.workspace import Workspace

# How long dvflow waits for the recorder's answer after the pipeline ended. Writing the
# parent run takes a second or two; a store locked by another process is retried by
# MLflow for a while. Past this, the user gets the pipeline's outcome and a clear error.
ANSWER_TIMEOUT_S = 300.0


def _user() -> str | None:
    # As MLflow's own default context does (mlflow.user).
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (e.g. a container's uid)
        return None


class RecorderLink:
    """Talks to one ``python -m dvflow.recorder.process`` for one invocation."""

    def __init__(
        self,
        workspace: Workspace,
        invocation: str,
        base_tags: dict[str, str],
        run_name: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.invocation = invocation
        self.base_tags = base_tags
        self.run_name = run_name
        self.started_at = time.time()
        self.process: subprocess.Popen[str] | None = None
        self.outcomes: list[StageOutcome] = []
        self._opened = False
        # Where the recorder's own messages go (default: this process's stderr).
        self.stderr_fd: int | None = None

    @property
    def pid(self) -> int | None:
        """The recorder process's id, so that SIGTERM handling spares it."""
        return self.process.pid if self.process else None

    def spawn(self) -> None:
        """Start the recorder process; it imports mlflow, then waits for ``open``."""
        if self.process is not None:
            return
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dvflow.recorder.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_fd,
            text=True,
            cwd=self.workspace.project.root,
        )

    def open(self) -> None:
        """Tell the recorder where to write: it opens the store and experiment now."""
        self.spawn()
        if self._opened:
            return
        self._opened = True
        target = self.workspace.target
        self._send(
            Start(
                root=str(self.workspace.project.root),
                tracking_uri=target.tracking_uri,
                experiment=target.experiment,
                artifacts=str(target.artifacts) if target.artifacts else None,
                invocation=self.invocation,
                base_tags=self.base_tags,
                started_at=self.started_at,
                user=_user(),
                run_name=self.run_name,
            )
        )
        for earlier in self.outcomes:
            self._send(earlier)

    def _send(self, message: Message) -> None:
        assert self.process is not None
        stdin: IO[str] | None = self.process.stdin
        try:
            if stdin is not None:
                stdin.write(encode(message) + "\n")
                stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the recorder died (or its pipe is closed): finish() reports it

    def record(self, outcome: StageOutcome) -> None:
        """Hand a stage's outcome to the recorder; returns at once."""
        self.outcomes.append(outcome)
        if self._opened:
            self._send(outcome)

    def finish(
        self,
        status: str,
        snapshot: Snapshot | None,
        results: Results | None,
        lineage: dict[str, str],
        *,
        result_code: CodeVersion | None = None,
        force_parent: bool = False,
    ) -> PipelineOutcome:
        """Tell the recorder how the pipeline ended and wait for its answer.

        Args:
            status: the MLflow status of the invocation (FINISHED, FAILED, KILLED).
            snapshot: the pipeline-wide snapshot, its code state the one that made the run.
            results: the pipeline's metrics and top-level plots, for the parent run.
            lineage: artifact name -> text of the lineage picture.
            result_code: the code state the invocation left (the tree to commit).
            force_parent: record a parent run even if no stage ran (``--record``).
        """
        metrics = _metrics(self.outcomes, results)
        if not force_parent and all(o.status is StageStatus.SKIPPED for o in self.outcomes):
            self.abort()  # nothing ran: no run to record
            return PipelineOutcome(None, self.outcomes, metrics)
        self.open()
        snapshot_data = None
        if snapshot is not None:
            snapshot_data = {**snapshot.to_dict(), "git_diff": snapshot.git_diff}
        self._send(
            Finish(
                status=status,
                snapshot=snapshot_data,
                results=results,
                lineage=lineage,
                force_parent=force_parent,
                result_code=result_code.to_dict() if result_code else None,
            )
        )
        answer = self._answer()
        for outcome in self.outcomes:
            outcome.run_id = answer.runs.get(outcome.address) or None
        return PipelineOutcome(
            answer.parent_run_id, self.outcomes, metrics, answer.error, answer.warnings
        )

    def abort(self) -> None:
        """Stop the recorder without recording anything, and without waiting for it.

        Nothing was written yet (the parent run is created with the first stage that
        runs), so stopping it mid-import spares a second of CPU for nothing.
        """
        if self.process is None:
            return
        self._send(Abort())
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if self.process.poll() is None:
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=0.5)

    def _answer(self, timeout: float = ANSWER_TIMEOUT_S) -> Answer:
        assert self.process is not None and self.process.stdout is not None
        process = self.process
        uri = display_uri(self.workspace.target.tracking_uri)
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.append(process.stdout.readline() if process.stdout else ""),
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            process.kill()
            raise TrackingStoreError(
                uri, f"the recorder process did not answer within {timeout:.0f} s and was stopped"
            )
        code = process.wait()
        try:
            answer = decode(lines[0]) if lines and lines[0] else None
        except ProtocolError:
            answer = None
        if not isinstance(answer, Answer):
            raise TrackingStoreError(
                uri, f"the recorder process exited with code {code} without an answer"
            )
        return answer


def _metrics(outcomes: list[StageOutcome], results: Results | None) -> dict[str, float]:
    """The headline metrics: the pipeline's, as `dvc metrics show` names them; without
    them (nothing recorded for the pipeline), every stage's."""
    if results is not None and results.metrics:
        return dict(results.metrics)
    metrics: dict[str, float] = {}
    for outcome in outcomes:
        if outcome.results is not None:
            metrics.update(outcome.results.metrics)
    return metrics

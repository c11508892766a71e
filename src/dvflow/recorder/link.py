"""dvflow's side of the recorder process: start it, send it messages, collect its answer.

Starting the process is cheap; it imports mlflow on its own core while DVC goes on, and
opens the store only when it gets its ``Start`` message (so that nothing is created for
a project whose ``dvc.yaml`` turns out to be broken). When most stages are expected to
be up to date, it is started only once a stage runs: an up-to-date pipeline then never
starts it. Sending a message writes one line to a pipe: it never waits for MLflow, not
even as a stage starts (its script finds its run through ``rendezvous.py``).
"""

from __future__ import annotations

import contextlib
import getpass
import queue
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from dvflow import env
from dvflow.errors import TrackingStoreError, one_line
from dvflow.project import STATE_DIR
from dvflow.recorder.protocol import (
    Abort,
    Answer,
    Finish,
    Message,
    PipelineOutcome,
    ProtocolError,
    StageOutcome,
    StageRun,
    StageStarted,
    StageStatus,
    Start,
    decode,
    encode,
)
from dvflow.recorder.rendezvous import forget, run_file
from dvflow.recorder.spool import Journal
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
# Inside the project home's state folder: the run files of running invocations.
RUNS_DIR = STATE_DIR / "runs"


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
        # The store is ready (``arm``): the recorder may open it from now on.
        self._armed = False
        # Every message sent is journaled first: what the store did not get is synced later.
        self.journal = Journal(workspace.project.home, invocation)
        # Why the store is not written live (it could not be reached at the start).
        self.offline: str | None = None
        # Where the recorder's own messages go (default: this process's stderr).
        self.stderr_fd: int | None = None
        # Sample system metrics into each running stage's run (setting system_metrics).
        self.system_metrics = workspace.settings.system_metrics
        # The recorder's reply lines, read by a thread (None: its output ended).
        self._replies: queue.Queue[str | None] | None = None
        self._held: list[str] = []  # read while waiting for another reply
        self._stage_runs: dict[str, str | None] = {}  # StageRun replies by stage
        # Where the stages' run ids are written for their scripts (rendezvous.py).
        self.run_files = workspace.project.home / RUNS_DIR / invocation

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

    def go_offline(self, reason: str) -> None:
        """The store cannot be reached: journal everything, write nothing live."""
        self.offline = reason
        self.abort()

    def arm(self) -> None:
        """The store is ready. A recorder started early opens it now; otherwise the
        recorder starts with the first stage that runs (``started``, ``record``)."""
        self._armed = True
        if self.process is not None:
            self.open()

    def open(self) -> None:
        """Tell the recorder where to write: it opens the store and experiment now."""
        if self.offline is None:
            self.spawn()
        if self._opened:
            return
        self._opened = True
        target = self.workspace.target
        self._journaled(
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
                system_metrics=self.system_metrics,
            )
        )
        for earlier in self.outcomes:
            self._journaled(earlier)

    def _journaled(self, message: Message) -> None:
        """Journal ``message``, then send it (unless offline)."""
        self.journal.append(message)
        if self.offline is None:
            self._send(message)

    def _send(self, message: Message) -> None:
        if self.process is None or self.process.poll() is not None:
            return  # never started, or died: finish() reports it (the journal has it)
        stdin: IO[str] | None = self.process.stdin
        try:
            if stdin is not None:
                stdin.write(encode(message) + "\n")
                stdin.flush()
        except (OSError, ValueError):
            # The recorder died (or its pipe is closed): finish() reports it. The pipe
            # is dropped now, or closing it later raises BrokenPipeError again (which
            # the CLI framework took for a closed stdout, exiting 1 without a word).
            self._drop_stdin()

    def _drop_stdin(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            stdin, self.process.stdin = self.process.stdin, None
            with contextlib.suppress(OSError, ValueError):
                stdin.close()

    def started(self, message: StageStarted) -> dict[str, str]:
        """Tell the recorder a stage's command starts; returns at once. The variables
        the command gets to find its run (``rendezvous.py``): none offline, or without
        a recorder (the stage's outcome makes its run later)."""
        if self.offline is not None or not self._armed:
            return {}
        self.open()  # the first stage that runs starts a recorder not started yet
        if self.pid is None:
            return {}
        message.run_file = str(run_file(self.run_files, message.address))
        self._journaled(message)
        if self.process is not None and self.process.stdout is not None:
            # Read the recorder's StageRun replies as they come, so that the stage's
            # line can name its run when it ends (stage_run never waits).
            self._read_replies()
        return {
            env.DVFLOW_STAGE_RUN_FILE: message.run_file,
            env.DVFLOW_RECORDER_PID: str(self.pid),
        }

    def stage_run(self, address: str) -> str | None:
        """The stage's run id, if the recorder said it created it by now (no wait)."""
        if self._replies is None:
            return None  # no command started: no run was announced
        while (line := self._reply(0.0, wait=False)) is not None:
            try:
                reply = decode(line)
            except ProtocolError:
                continue
            if isinstance(reply, StageRun):
                self._stage_runs[reply.address] = reply.run_id
            else:
                self._held.append(line)  # the Answer of a recorder that failed
                break
        return self._stage_runs.get(address)

    def _reply(self, timeout: float, *, wait: bool = True) -> str | None:
        """The recorder's next line, within ``timeout`` seconds (None: none came, or its
        output ended); ``wait=False``: only a line already read."""
        if self._held and wait:
            return self._held.pop(0)
        if self.process is None or self.process.stdout is None or (wait and timeout <= 0):
            return None
        replies = self._read_replies()
        try:
            line = replies.get(timeout=timeout) if wait else replies.get_nowait()
        except queue.Empty:
            return None
        if line is None:
            replies.put(None)  # ended for every later reader too
        return line

    def _read_replies(self) -> queue.Queue[str | None]:
        """The queue a thread fills with the recorder's lines, started on first use."""
        if self._replies is None:
            assert self.process is not None and self.process.stdout is not None
            replies: queue.Queue[str | None] = queue.Queue()
            stdout = self.process.stdout

            process = self.process

            def pump() -> None:
                with contextlib.suppress(OSError, ValueError):
                    for line in iter(stdout.readline, ""):
                        replies.put(line)
                replies.put(None)
                # Its output ended: reap it now, so that no stage's script waits for a
                # run from a recorder that is gone (rendezvous.py).
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=1.0)

            threading.Thread(target=pump, daemon=True, name="dvflow-recorder-replies").start()
            self._replies = replies
        return self._replies

    def record(self, outcome: StageOutcome) -> None:
        """Hand a stage's outcome to the recorder; returns at once."""
        self.outcomes.append(outcome)
        if self._opened:
            self._journaled(outcome)
        elif self._armed and outcome.status is not StageStatus.SKIPPED:
            self.open()  # a stage restored or failed without a command: sends it too

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

        When the recorder could not write everything (the store stopped answering, the
        recorder died or was killed), the journal is kept and replayed into the store
        here, once; if that fails too, it waits in the spool for ``dvflow sync``.

        Args:
            status: the MLflow status of the invocation (FINISHED, FAILED, KILLED).
            snapshot: the pipeline-wide snapshot, its code state the one that made the run.
            results: the pipeline's metrics and top-level plots, for the parent run.
            lineage: artifact name -> text of the lineage picture.
            result_code: the code state the invocation left (the tree to commit).
            force_parent: record a parent run even if no stage ran (``--record``).
        """
        forget(self.run_files)  # the pipeline ended: no stage's script looks for its run
        metrics = _metrics(self.outcomes, results)
        if not force_parent and all(o.status is StageStatus.SKIPPED for o in self.outcomes):
            self.abort()  # nothing ran: no run to record
            return PipelineOutcome(None, self.outcomes, metrics)
        self.open()
        snapshot_data = None
        if snapshot is not None:
            snapshot_data = {**snapshot.to_dict(), "git_diff": snapshot.git_diff}
        finish = Finish(
            status=status,
            snapshot=snapshot_data,
            results=results,
            lineage=lineage,
            force_parent=force_parent,
            result_code=result_code.to_dict() if result_code else None,
            ended=time.time(),
        )
        failure = self.offline
        if failure is None:
            self._send(finish)
            try:
                answer = self._answer()
            except TrackingStoreError as exc:
                failure = exc.message
            else:
                if answer.error is None:
                    self.journal.discard()
                    return self._outcome(
                        answer.parent_run_id, answer.runs, metrics, answer.warnings
                    )
                failure = answer.error
        # The journal gets the environment the recorder would have read itself.
        self.journal.append(_with_environment(finish, self.workspace.project.root))
        return self._recover(failure, metrics)

    def _outcome(
        self,
        parent_run_id: str | None,
        runs: dict[str, str],
        metrics: dict[str, float],
        warnings: list[str],
        *,
        error: str | None = None,
        spooled: Path | None = None,
    ) -> PipelineOutcome:
        for outcome in self.outcomes:
            outcome.run_id = runs.get(outcome.address) or None
        return PipelineOutcome(
            parent_run_id, self.outcomes, metrics, error, warnings, spooled=spooled
        )

    def _recover(self, failure: str, metrics: dict[str, float]) -> PipelineOutcome:
        """Write the journal into the store now, or leave it for ``dvflow sync``."""
        from dvflow.recorder.replay import replay_journal
        from dvflow.tracking.store import check_reachable

        target = self.workspace.target
        if self.offline is None:
            try:
                check_reachable(target.tracking_uri)
                synced = replay_journal(self.journal.path, target)
            except Exception as exc:  # the store still fails: the spool keeps it all
                failure = f"{failure}; then {type(exc).__name__}: {one_line(exc)}"
            else:
                note = f"recording was interrupted ({failure}); every run was written again"
                return self._outcome(
                    synced.parent_run_id, synced.runs, metrics, [note, *synced.warnings]
                )
        return self._outcome(None, {}, metrics, [], error=failure, spooled=self.journal.path)

    def abort(self) -> None:
        """Stop the recorder without recording anything, and without waiting for it.

        Nothing was written yet (the parent run is created with the first stage that
        runs), so stopping it mid-import spares a second of CPU for nothing.
        """
        self.journal.discard()
        forget(self.run_files)
        if self.process is None:
            return
        self._send(Abort())
        # SIGKILL: the recorder ignores SIGTERM (a signal to the whole process group
        # must not cut a write short), and it holds nothing to lose yet. Killed before
        # its pipes are closed: closing the one a reader thread is blocked on waits for
        # that read to end.
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=0.5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()

    def _answer(self, timeout: float = ANSWER_TIMEOUT_S) -> Answer:
        assert self.process is not None
        process = self.process
        uri = display_uri(self.workspace.target.tracking_uri)
        self._drop_stdin()
        deadline = time.monotonic() + timeout
        answer: Message | None = None
        while not isinstance(answer, Answer):
            line = self._reply(deadline - time.monotonic())
            if line is None:
                break
            try:
                answer = decode(line)
            except ProtocolError:
                answer = None
        if not isinstance(answer, Answer) and time.monotonic() >= deadline:
            process.kill()
            raise TrackingStoreError(
                uri, f"the recorder process did not answer within {timeout:.0f} s and was stopped"
            )
        code = process.wait()
        if not isinstance(answer, Answer):
            raise TrackingStoreError(
                uri, f"the recorder process exited with code {code} without an answer"
            )
        return answer


def _with_environment(finish: Finish, root: Path) -> Finish:
    """``finish`` with the environment of this run in its snapshot (the recorder reads
    its own; a replay later must not read the environment of that later day)."""
    from dvflow.snapshot.environment import read_environment

    if finish.snapshot is None:
        return finish
    environment = read_environment(root).to_dict()
    return replace(finish, snapshot={**finish.snapshot, "environment": environment})


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

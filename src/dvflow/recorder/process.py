"""The recorder process of ``dvflow repro``: it writes the runs while DVC runs stages.

DVC runs in dvflow's own process. MLflow is imported, the store opened and the runs
written here, in a separate process (``python -m dvflow.recorder.process``) started
before DVC is even imported: it uses the machine's other core and never holds the GIL
that DVC's own work between stages needs. Messages arrive as JSON lines on stdin (see
``protocol.py``), in DVC's execution order; the replies are JSON lines on stdout: one
``StageRun`` per ``StageStarted`` (its id also written where the stage's script looks,
``rendezvous.py``), one ``Answer`` at the end. What is written is ``recording.py``'s;
between messages, the running stages' step files are read (``live.py``).

If dvflow's process dies without saying how the pipeline ended, every run this process
opened ends KILLED.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from dvflow import env
from dvflow.errors import one_line
from dvflow.recorder.protocol import (
    Abort,
    Answer,
    Finish,
    Message,
    ProtocolError,
    StageOutcome,
    StageRun,
    StageStarted,
    Start,
    decode,
    encode,
)
from dvflow.recorder.recording import Recorder
from dvflow.recorder.rendezvous import publish
from dvflow.recorder.stream import STREAM_INTERVAL_S
from dvflow.workspace import Target, open_session

if TYPE_CHECKING:
    from dvflow.snapshot.environment import Environment


def _messages(lines: Iterator[str], recorder: Recorder) -> Iterator[Message | None]:
    """The messages of ``lines`` as they come, read by a thread so that the running
    stages' step files are read between them; None when nothing came for a while."""
    inbox: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in lines:
            inbox.put(line)
        inbox.put(None)

    threading.Thread(target=pump, daemon=True, name="dvflow-recorder-input").start()
    while True:
        wait = recorder.live.until_next_look()
        try:
            line = inbox.get(timeout=STREAM_INTERVAL_S if wait is None else wait)
        except queue.Empty:
            recorder.live.look()
            yield None
            continue
        if line is None:
            return  # dvflow's process is gone
        recorder.live.look()
        yield decode(line)


def _serve(lines: Iterator[str], reply: IO[str]) -> None:
    """Read messages until ``Finish`` (or end of input), write one ``Answer``."""
    from dvflow.snapshot import snapshot_from_dict
    from dvflow.snapshot.environment import read_environment

    try:
        start = decode(next(lines))
    except (StopIteration, ProtocolError):
        return  # dvflow's process went away (or sent nothing we know) before a word
    if not isinstance(start, Start):
        return  # Abort: nothing ran, nobody waits for an answer
    recorder: Recorder | None = None
    error: str | None = None
    status = "KILLED"  # if dvflow's process vanishes without a word
    try:
        target = Target(
            start.tracking_uri,
            start.experiment,
            Path(start.artifacts) if start.artifacts else None,
        )
        recorder = Recorder(start, open_session(target))
        recorder.warm_up()
        # Read while the stages run (it lists every installed distribution): a stage's
        # run is created meanwhile, and the parent's snapshot needs it only at the end.
        environment: list[Environment] = []
        reader = threading.Thread(
            target=lambda: environment.append(read_environment(Path(start.root))),
            daemon=True,
            name="dvflow-recorder-environment",
        )
        reader.start()
        for message in _messages(lines, recorder):
            if message is None:  # nothing came for a while
                continue
            if isinstance(message, Abort):
                return  # nothing ran: nothing to record, nobody waits for an answer
            if isinstance(message, StageStarted):
                run_id = None
                try:
                    run_id = recorder.stage_started(message)
                finally:  # the stage's script may wait for it: it always gets an answer
                    if message.run_file:
                        publish(Path(message.run_file), run_id)
                    # dvflow's process reads it, unless it is gone (then the loop ends).
                    with contextlib.suppress(OSError, ValueError):
                        reply.write(encode(StageRun(message.address, run_id)) + "\n")
                        reply.flush()
                continue
            if isinstance(message, StageOutcome):
                recorder.handle(message)
                continue
            if isinstance(message, Finish):
                status = message.status
                reader.join()
                read = environment[0] if environment else read_environment(Path(start.root))
                snapshot = snapshot_from_dict(message.snapshot, read) if message.snapshot else None
                recorder.finish(message, snapshot)
                break
        else:
            recorder.close_open_runs("KILLED")
    except Exception as exc:
        error = f"{type(exc).__name__}: {one_line(exc)}"
        if recorder is not None:
            recorder.close_open_runs(status)
    answer = Answer(
        parent_run_id=recorder.parent_run_id if recorder else None,
        runs=recorder.recorded if recorder else {},
        error=error,
        warnings=[*recorder.warnings, *recorder.live.warnings] if recorder else [],
    )
    reply.write(encode(answer) + "\n")
    reply.flush()


def main() -> None:
    """``python -m dvflow.recorder.process``: serve one invocation on stdin/stdout."""
    # Ctrl-C, and the SIGTERM that `timeout`, CI cancellation, systemd and Slurm send,
    # reach the whole process group: dvflow's process decides how runs end, and this
    # one must live to write it (it exits on its own when dvflow's process is gone).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.environ.get(env.DVFLOW_QUIET):
        # `dvflow -q`: MLflow's and alembic's messages on opening the store are not
        # errors. (A global threshold: alembic's own logging setup does not reset it.)
        logging.disable(logging.WARNING)
    # The answer goes on a private copy of stdout; anything else printed here (MLflow
    # prints run URLs for a tracking server) goes to stderr instead.
    answer = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    # mlflow loads while dvflow's process reads the project; the store is opened only
    # once the Start message says the project is sound.
    import mlflow  # noqa: F401

    _serve(iter(sys.stdin.readline, ""), answer)
    # The answer is written and every run closed: skip the second that tearing down
    # mlflow's modules costs, which dvflow's process would otherwise wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

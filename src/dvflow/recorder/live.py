"""The stages running now, as the recorder shows them live: their step files streamed
into their runs (``stream.py``) and, when asked, MLflow's system metrics monitor on
them. Best effort: what cannot be shown live is logged when the stage ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dvflow.errors import one_line
from dvflow.recorder.protocol import StepSeries
from dvflow.recorder.stream import STREAM_INTERVAL_S, StageStream


class LiveView:
    """The running stages of one invocation: address -> run, stream, monitor."""

    def __init__(
        self,
        root: Path,
        log_metrics: Callable[[str, list[Any]], None],
        *,
        tracking_uri: str | None = None,
    ) -> None:
        self.root = root
        self.log_metrics = log_metrics
        # Where MLflow's monitor writes (None: no system metrics).
        self.tracking_uri = tracking_uri
        self.runs: dict[str, str] = {}
        self.streams: dict[str, StageStream] = {}
        self.warnings: list[str] = []
        self._next_look = 0.0

    def begin(self, address: str, run_id: str, sources: list[StepSeries], started: float) -> None:
        """Show the stage started at ``started`` live in ``run_id``."""
        self.runs[address] = run_id
        if sources:
            self.streams[address] = StageStream(self.root, sources, started)
            self._next_look = time.monotonic() + STREAM_INTERVAL_S
        if self.tracking_uri is not None:
            self._monitor(run_id, self.tracking_uri)

    def end(self, address: str) -> tuple[str | None, dict[str, set[int]]]:
        """Stop showing the stage: its run, and the steps streamed into it (the rows
        written since the last look are streamed now)."""
        streamed: dict[str, set[int]] = {}
        if address in self.streams:
            self._stream(address)
            streamed = self.streams.pop(address).streamed
        run_id = self.runs.pop(address, None)
        if run_id is not None and self.tracking_uri is not None:
            self._stop_monitor(run_id)
        return run_id, streamed

    def look(self) -> None:
        """Stream what the running stages' step files gained, if it is time to look."""
        if not self.streams or time.monotonic() < self._next_look:
            return
        self._next_look = time.monotonic() + STREAM_INTERVAL_S
        for address in list(self.streams):
            self._stream(address)

    def until_next_look(self) -> float | None:
        """Seconds until the step files are due to be read again (None: none to read)."""
        if not self.streams:
            return None
        return max(self._next_look - time.monotonic(), 0.0)

    def _stream(self, address: str) -> None:
        from mlflow.entities import Metric

        stream = self.streams[address]
        points = stream.poll()
        if not points:
            return
        metrics = [Metric(p.name, p.value, p.timestamp, p.step) for p in points]
        try:
            self.log_metrics(self.runs[address], metrics)
        except Exception as exc:  # the store failed: the stage's end logs them all
            for point in points:
                stream.streamed[point.name].discard(point.step)
            stream.sources = []  # keep what was streamed, read nothing more
            self.warnings.append(
                f"stage '{address}': its step files were not streamed "
                f"({type(exc).__name__}: {one_line(exc)}); logged when it ended"
            )

    def _monitor(self, run_id: str, tracking_uri: str) -> None:
        """MLflow's own system metrics monitor on the stage's run, until it ends (the
        fluent API is what starts and stops it; DVC runs one stage at a time)."""
        import mlflow

        try:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.start_run(run_id=run_id, log_system_metrics=True)
        except Exception as exc:  # no psutil, a refused call: the stage runs on
            self.warnings.append(f"system metrics are not logged: {one_line(exc)}")

    def _stop_monitor(self, run_id: str) -> None:
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            # end_run stops the monitor; the run's status is set when it is recorded.
            mlflow.end_run("RUNNING")

"""The live view of a running stage: its step files tailed into its run as they grow.

A stage that trains for hours writes its metric histories row by row: DVCLive appends
one line per step to ``dvclive/plots/metrics/<name>.tsv``, and a stage may declare any
CSV/TSV plot whose x is the step. While the stage runs, the recorder process reads the
rows added since its last look (every ``STREAM_INTERVAL_S``) and logs them with their
steps, in one batch per look, under the names the stage's results will carry
(``snapshot.results.plot_name``). At the stage's end only the steps not streamed yet
are logged: no step is logged twice.

Only complete lines are read (a row being written is read at the next look), a file
rewritten from the start (DVCLive resets its folder when a ``Live`` starts) is read
again from its first line, and a file older than the stage (left by an earlier run,
before the script reset it) is not read at all. JSON and YAML plots, rewritten whole,
are recorded when the stage ends, as before.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dvflow.recorder.protocol import StepSeries
from dvflow.snapshot.results import plot_name

# How often a running stage's step files are read (seconds).
STREAM_INTERVAL_S = 1.0
_DELIMITERS = {".tsv": "\t", ".csv": ","}
# Rows a single look reads at most per file: a huge backlog is streamed over several
# looks, never in one batch larger than MLflow takes.
_MAX_ROWS = 1000
# A file modified this long before the stage started is an earlier run's.
_CLOCK_SLACK_S = 1.0


@dataclass
class Point:
    """One value of one metric at one step."""

    name: str
    value: float
    step: int
    timestamp: int  # milliseconds


@dataclass
class _Tail:
    """How far one file was read."""

    inode: int = -1
    offset: int = 0
    header: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read (the step when the plot has no x)


class StageStream:
    """The step files of one running stage, read where the last look stopped."""

    def __init__(self, root: Path, sources: list[StepSeries], started: float) -> None:
        self.root = root
        self.sources = sources
        self.started = started
        self.tails: dict[Path, _Tail] = {}
        # metric name -> the steps logged by this stream
        self.streamed: dict[str, set[int]] = {}

    def _files(self) -> Iterator[tuple[Path, StepSeries]]:
        for source in self.sources:
            path = self.root / source.path
            if path.is_dir():
                for file in sorted(path.rglob("*")):
                    if file.suffix.lower() in _DELIMITERS and file.is_file():
                        yield file, source
            elif path.suffix.lower() in _DELIMITERS and path.is_file():
                yield path, source

    def poll(self) -> list[Point]:
        """The points written since the last look, each step of a metric once."""
        points: list[Point] = []
        for path, source in self._files():
            try:
                points += self._read(path, source)
            except (OSError, UnicodeDecodeError, csv.Error):
                continue  # being rewritten: read again at the next look
        fresh = []
        for point in points:
            steps = self.streamed.setdefault(point.name, set())
            if point.step not in steps:
                steps.add(point.step)
                fresh.append(point)
        return fresh

    def _read(self, path: Path, source: StepSeries) -> list[Point]:
        stat = path.stat()
        if stat.st_mtime < self.started - _CLOCK_SLACK_S:
            return []  # an earlier run's file, not reset yet
        tail = self.tails.setdefault(path, _Tail())
        if stat.st_ino != tail.inode or stat.st_size < tail.offset:
            self.tails[path] = tail = _Tail(inode=stat.st_ino)  # written anew
        if stat.st_size == tail.offset:
            return []
        with path.open("rb") as handle:
            handle.seek(tail.offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        if not complete:
            return []
        lines = complete.decode("utf-8").splitlines()
        delimiter = _DELIMITERS[path.suffix.lower()]
        points: list[Point] = []
        consumed = 0
        for line in lines:
            if len(points) >= _MAX_ROWS:
                break
            consumed += len(line.encode("utf-8")) + 1
            if not line.strip():
                continue
            cells = next(csv.reader([line], delimiter=delimiter))
            if not tail.header:
                tail.header = cells
                continue
            row = dict(zip(tail.header, cells, strict=False))
            points += _row_points(plot_name(path, self.root), tail, row, source)
            tail.rows += 1
        tail.offset += consumed
        return points


def _row_points(name: str, tail: _Tail, row: dict[str, str], source: StepSeries) -> list[Point]:
    """One row's values, named as ``snapshot.results`` names a history's columns."""
    columns = [c for c in (source.y or tail.header[-1:]) if c != source.x]
    if source.x is None:
        step: int | None = tail.rows
    else:
        step = _integer(row.get(source.x))
    if step is None:
        return []
    stamp = _integer(row.get("timestamp")) or int(time.time() * 1000)
    points = []
    for column in columns:
        value = _number(row.get(column))
        if value is not None:
            metric = name if len(columns) == 1 else f"{name}/{column}"
            points.append(Point(metric, value, step, stamp))
    return points


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _integer(text: str | None) -> int | None:
    number = _number(text)
    return int(number) if number is not None and number.is_integer() else None

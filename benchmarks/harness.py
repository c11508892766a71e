"""What every benchmark case shares: the environment, timed commands, interleaved rounds,
the process-tree monitor (peak RSS, bytes read) and the rows of the result table.

Only public tools are measured: each command is a subprocess (``dvflow``, ``dvc``,
``python -c "import mlflow ..."``), timed by wall clock from this process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil


class BenchError(RuntimeError):
    """A command failed or a record is missing: the suite exits 1."""


def clean_env(bin_dir: Path) -> dict[str, str]:
    """This environment, minus anything that would redirect MLflow, DVC or git."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVFLOW_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
        # MLflow's "creating tables" lines and tips are noise in a timed command.
        MLFLOW_LOGGING_LEVEL="WARNING",
    )
    return env


@dataclass
class Sample:
    """One timed command: wall-clock seconds; with ``monitor``, the peak resident memory
    of its process tree and the bytes its tree read (``/proc/self/io`` of this process,
    which the kernel credits with every reaped child's reads)."""

    seconds: float
    cpu: float = 0.0  # user + system seconds of the whole tree (reaped children's rusage)
    peak_rss: int = 0
    rchar: int = 0
    read_bytes: int = 0


@dataclass
class Command:
    """A command to time: argv, folder, and extra environment variables."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)


def _self_io(thread: int | None = None) -> dict[str, int]:
    """This process's I/O counters, its reaped children included; or one of its
    threads' own (Linux only, else empty)."""
    where = f"/proc/self/task/{thread}/io" if thread else "/proc/self/io"
    try:
        text = Path(where).read_text()
    except OSError:
        return {}
    return {k: int(v) for k, v in (line.split(":") for line in text.splitlines())}


def _children_cpu() -> float:
    """CPU seconds of every reaped child of this process (and their reaped children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_rss(proc: psutil.Process) -> int:
    """Resident memory of ``proc`` and all its descendants, in bytes."""
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        # One that exited between listing and reading no longer holds memory.
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


class Runner:
    """Runs commands in one clean environment; every failure raises ``BenchError``."""

    def __init__(self, env: dict[str, str], verbose: bool = False) -> None:
        self.env = env
        self.verbose = verbose

    def run(self, cmd: Command, monitor: bool = False) -> Sample:
        """Run ``cmd`` to completion and time it (its output is discarded)."""
        env = {**self.env, **cmd.env}
        io_before = _self_io() if monitor else {}
        cpu_before = _children_cpu()
        start = time.perf_counter()
        # stderr to a file read only on failure: reading a pipe here would count in
        # the bytes this process (and so the measured tree) read.
        errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed below
        proc = psutil.Popen(
            list(cmd.argv), cwd=cmd.cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        peak = [0]
        own_reads = [0]  # what the polling thread itself reads from /proc, not the tree's
        done = threading.Event()

        def poll() -> None:
            tid = threading.get_native_id()
            start = _self_io(tid).get("rchar", 0)
            while not done.wait(0.02):
                peak[0] = max(peak[0], _tree_rss(proc))
            own_reads[0] = _self_io(tid).get("rchar", 0) - start

        poller = threading.Thread(target=poll, daemon=True)
        if monitor:
            poller.start()
        proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        if monitor:
            poller.join()
        io_after = _self_io() if monitor else {}
        with errors:
            errors.seek(0)
            stderr = errors.read() if proc.returncode != 0 else ""
        if proc.returncode != 0:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise BenchError(
                f"`{' '.join(cmd.argv)}` in {cmd.cwd} exited {proc.returncode}\n{tail}"
            )
        return Sample(
            seconds=seconds,
            cpu=_children_cpu() - cpu_before,
            peak_rss=peak[0],
            rchar=io_after.get("rchar", 0) - io_before.get("rchar", 0) - own_reads[0],
            read_bytes=io_after.get("read_bytes", 0) - io_before.get("read_bytes", 0),
        )

    def setup(self, argv: Sequence[str], cwd: Path, **env: str) -> str:
        """An untimed set-up command; returns its stdout."""
        proc = subprocess.run(
            list(argv), cwd=cwd, env={**self.env, **env}, capture_output=True, text=True
        )
        if self.verbose:
            print(f"  $ {' '.join(argv)}", file=sys.stderr)
        if proc.returncode != 0:
            raise BenchError(
                f"`{' '.join(argv)}` in {cwd} exited {proc.returncode}\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        return proc.stdout

    def interleave(
        self, commands: Mapping[str, Command], rounds: int, monitor: bool = False
    ) -> dict[str, list[Sample]]:
        """Time each command ``rounds`` times, round-robin, starting each round one
        command further so that no command always follows the same one."""
        names = list(commands)
        samples: dict[str, list[Sample]] = {name: [] for name in names}
        for i in range(rounds):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(self.run(commands[name], monitor=monitor))
        return samples


def seconds(samples: Sequence[Sample]) -> list[float]:
    """The wall-clock times of ``samples``."""
    return [s.seconds for s in samples]


def cpu_note(baseline: Sequence[Sample], ours: Sequence[Sample]) -> str:
    """The ratio of median CPU times (user + system, whole process trees): less
    sensitive than wall-clock time to what other users of the machine run."""
    base = statistics.median(s.cpu for s in baseline)
    mine = statistics.median(s.cpu for s in ours)
    return f"CPU {mine:.2f} s vs {base:.2f} s: {mine / base if base else 0:.2f}x"


@dataclass
class Target:
    """A case's goal: ``kind`` is ``max_ratio`` (dvflow / baseline at most ``value``),
    ``min_speedup`` (baseline / dvflow at least ``value``), ``max_seconds`` (dvflow's
    median under ``value``) or ``report`` (no goal)."""

    kind: str
    value: float = 0.0

    def describe(self) -> str:
        """The goal as the table shows it."""
        return {
            "max_ratio": f"<= {self.value:g}x",
            "min_speedup": f">= {self.value:g}x faster",
            "max_seconds": f"< {self.value:g} s",
            "report": "report",
        }[self.kind]


@dataclass
class Row:
    """One line of the result table."""

    case: str
    baseline_label: str
    baseline: list[float] | None = None
    dvflow: list[float] | None = None
    target: Target = field(default_factory=lambda: Target("report"))
    notes: list[str] = field(default_factory=list)
    # Extra conditions of the goal (e.g. "no byte of the data read"): name -> met.
    conditions: dict[str, bool] = field(default_factory=dict)
    status: str | None = None  # "not built" / "error" instead of a measurement
    unit: str = "s"

    def ratio(self) -> float | None:
        """What the table's ratio column shows: dvflow / baseline, or the speed-up."""
        if not self.baseline or not self.dvflow:
            return None
        base, ours = statistics.median(self.baseline), statistics.median(self.dvflow)
        if self.target.kind == "min_speedup":
            return base / ours
        return ours / base

    def verdict(self) -> str:
        """pass, FAIL, report, or the row's status."""
        if self.status:
            return self.status
        ratio = self.ratio()
        kind, value = self.target.kind, self.target.value
        if kind == "report":
            met = True
        elif kind == "max_seconds":
            met = bool(self.dvflow) and statistics.median(self.dvflow or [0]) < value
        else:
            met = ratio is not None and (ratio <= value if kind == "max_ratio" else ratio >= value)
        met = met and all(self.conditions.values())
        if kind == "report":
            return "report" if met else "FAIL"
        return "pass" if met else "FAIL"


def spread(values: Sequence[float] | None, unit: str = "s") -> str:
    """``median [min-max]`` with its unit, or ``-``."""
    if not values:
        return "-"
    digits = 3 if unit == "s" else 0
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f} {unit} (n=1)"
    low, high = min(values), max(values)
    return f"{median:.{digits}f} {unit} [{low:.{digits}f}-{high:.{digits}f}] n={len(values)}"


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| case | baseline | baseline (median [min-max]) | dvflow (median [min-max]) "
        "| ratio | target | result | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row.ratio()
        lines.append(
            f"| {row.case} | {row.baseline_label} | {spread(row.baseline, row.unit)} | "
            f"{spread(row.dvflow, row.unit)} | {f'{ratio:.2f}x' if ratio is not None else '-'} | "
            f"{row.target.describe()} | {row.verdict()} | {'; '.join(row.notes)} |"
        )
    return "\n".join(lines)

"""Cases about data: the size of a DVC-tracked file (time, bytes read, memory), a long
metric history, and the ``dvflow runs --data`` lookup (built in ``runs_lookup.py``)."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from pathlib import Path

from cases_pipeline import DVC_FORCE, DVFLOW_FORCE
from harness import BenchError, Command, Row, Target, seconds
from records import expect_runs, history_length
from settings import GIB, MIB, Settings

LOG_METRIC = """\
import sys, time
import mlflow

mlflow.set_tracking_uri(sys.argv[1])
calls = int(sys.argv[2])
with mlflow.start_run():
    start = time.perf_counter()
    for i in range(calls):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    elapsed = time.perf_counter() - start
open(sys.argv[3], "w").write(repr(elapsed / calls))
"""
LOOKUP = Path(__file__).with_name("runs_lookup.py")


def _size(size: int) -> str:
    return f"{size // GIB} GiB" if size >= GIB else f"{size // MIB} MiB"


def data_size(s: Settings) -> list[Row]:
    """Recording the lineage of a large DVC-tracked file against a 1 KiB one: time, the
    bytes dvflow's process tree read, and its peak memory."""
    big = s.lab.dataset("data-big", s.data_size)
    small = s.lab.dataset("data-small", s.small_size)
    for root in (big, small):
        s.warm(DVFLOW_FORCE, root)  # stores created, untimed
    before = {root: _counts(root) for root in (big, small)}
    # DVC itself reads a dependency's bytes under --force (``dvc repro --force`` alone
    # reads the file once): timed alongside, so that dvflow's own reads are what
    # dvflow's tree read beyond plain DVC's, large file minus small.
    samples = s.runner.interleave(
        {
            "small": Command(DVFLOW_FORCE, small),
            "big": Command(DVFLOW_FORCE, big),
            "dvc small": Command(DVC_FORCE, small),
            "dvc big": Command(DVC_FORCE, big),
        },
        s.rounds,
        monitor=True,
    )
    for root in (big, small):
        expect_runs("data size", _uri(root), before[root], s.rounds, stages=1)
    rchar = {k: statistics.median(x.rchar for x in v) for k, v in samples.items()}
    by_dvc = rchar["dvc big"] - rchar["dvc small"]
    extra = rchar["big"] - rchar["small"] - by_dvc
    bound = s.data_size // 100
    rss = {k: [x.peak_rss / MIB for x in v] for k, v in samples.items()}
    label = _size(s.data_size)
    return [
        Row(
            f"data size: `dvflow repro --force` of a stage on a {label} DVC-tracked file",
            "the same with a 1 KiB file",
            seconds(samples["small"]),
            seconds(samples["big"]),
            Target("max_ratio", 1.05),
            notes=[
                f"bytes dvflow read beyond DVC's own, {label} minus 1 KiB: "
                f"{extra / MIB:+.2f} MiB (bound {bound / MIB:.1f} MiB; plain `dvc repro "
                f"--force` itself read {by_dvc / MIB:.0f} MiB more with the {label} file)"
            ],
            conditions={"no byte of the data read": extra < bound},
        ),
        Row(
            f"memory: peak RSS of dvflow's process tree, {label} file",
            "the same with a 1 KiB file",
            rss["small"],
            rss["big"],
            Target("max_ratio", 1.1),
            notes=[
                "values in MB, not s; goal also: under 400 MB; sum of the RSS of dvflow, "
                "its recorder and the stage (shared pages counted in each); plain `dvc "
                f"repro --force`: {statistics.median(rss['dvc big']):.0f} MB"
            ],
            conditions={"under 400 MB": statistics.median(rss["big"]) < 400},
            unit="MB",
        ),
    ]


def _uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def _counts(root: Path) -> tuple[int, int]:
    from records import count_runs

    return count_runs(_uri(root))


def metric_history(s: Settings) -> list[Row]:
    """A DVCLive-style TSV of ``points`` steps recorded by ``dvflow repro`` against one
    ``log_metric`` call per point (``log_calls`` timed, extrapolated)."""
    root = s.lab.history(s.points)
    s.warm(DVFLOW_FORCE, root)
    folder = s.lab.root / "log-metric"
    folder.mkdir()
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    result = folder / "per-call.txt"
    baseline = Command(
        [sys.executable, "-c", LOG_METRIC, uri, str(s.log_calls), str(result)], folder
    )
    if s.warm_up:
        s.runner.run(baseline)  # creates the store: its schema is not timed
    ours, per_call = [], []
    for i in range(s.rounds):
        order = ["dvflow", "mlflow"] if i % 2 == 0 else ["mlflow", "dvflow"]
        for name in order:
            if name == "dvflow":
                ours.append(s.runner.run(Command(DVFLOW_FORCE, root)).seconds)
            else:
                s.runner.run(baseline)
                per_call.append(float(result.read_text()))
    points = history_length(_uri(root), "loss")
    if points != s.points:
        raise BenchError(f"metric history: the stage run holds {points} points of 'loss', "
                         f"expected {s.points}")  # fmt: skip
    return [
        Row(
            f"metric history: {s.points:,} points from a DVCLive-style TSV, "
            "whole `dvflow repro --force`",
            f"one `log_metric` per point, SQLite ({s.log_calls:,} timed, extrapolated)",
            [c * s.points for c in per_call],
            ours,
            Target("min_speedup", 50),
            notes=[
                f"log_metric {statistics.median(per_call) * 1000:.2f} ms a call; "
                "ratio = baseline / dvflow"
            ],
        )
    ]


def lookup(s: Settings) -> list[Row]:
    """``benchmarks/runs_lookup.py`` when it exists: the whole ``dvflow runs --data``."""
    case = f"lookup: `dvflow runs --data PATH` over {s.lookup_runs:,} runs"
    if not LOOKUP.exists():
        return [Row(case, "(absolute)", target=Target("max_seconds", 1), status="not built")]
    rounds = 1 if s.quick else 5
    proc = subprocess.run(
        [sys.executable, str(LOOKUP), "--runs", str(s.lookup_runs), "--rounds", str(rounds)],
        env=s.runner.env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"{LOOKUP.name} exited {proc.returncode}\n{proc.stderr[-1500:]}")
    found = dict(re.findall(r"^(cli any version|query any version)\s+(\d+) ms", proc.stdout, re.M))
    if "cli any version" not in found:
        raise BenchError(f"{LOOKUP.name} printed no 'cli any version' figure:\n{proc.stdout}")
    notes = [f"median of {rounds} (from {LOOKUP.name})"]
    if "query any version" in found:
        notes.append(f"the query alone, in process: {found['query any version']} ms")
    return [
        Row(
            case,
            "(absolute)",
            None,
            [int(found["cli any version"]) / 1000],
            Target("max_seconds", 1),
            notes=notes,
        )
    ]

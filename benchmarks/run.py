"""Measure dvflow against plain DVC and MLflow: every case side by side in one run.

Usage: ``python benchmarks/run.py [--quick] [--only CASE ...] [--markdown FILE]``

Each case times the commands it compares in the same run, interleaved round by round
(absolute times on a shared machine are noise; their ratio is not), and prints one
table: the case, the baseline, dvflow (median [min-max] over the rounds), the ratio of
medians, the target, and pass/FAIL. ``--quick`` (CI) runs fewer rounds on smaller data:
a smoke run whose figures are not to be quoted. Everything happens in one temporary
folder, removed at the end (the tracking server is stopped too).

Exit code: 0 whatever the ratios (a measurement, not a test); 1 when a command failed
or a run dvflow should have recorded is missing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

# The cases import each other as top-level modules, from this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases_data import data_size, lookup, metric_history
from cases_pipeline import cli_start, many_stages, pipeline, server
from harness import BenchError, Row, Runner, clean_env, table
from projects import Lab
from settings import Settings

CASES: dict[str, Callable[[Settings], list[Row]]] = {
    "cli-start": cli_start,
    "pipeline": pipeline,  # tracked, hand-written and no-op rows
    "many-stages": many_stages,
    "data-size": data_size,  # time, bytes read, and the memory row
    "metric-history": metric_history,
    "server": server,
    "lookup": lookup,
}
# The rows an errored case would have filled, so that the table always shows them all.
CASE_TITLES = {
    "pipeline": "tracked pipeline, hand-written, no-op",
    "data-size": "data size, memory",
}
ROWS = 50_000


def machine(started: float) -> str:
    """Date, machine and versions, and the load the figures were taken under."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(__file__).parent, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return (
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, dvflow {commit or '?'}: "
        f"{os.cpu_count()} cores ({platform.machine()}, {platform.system()}), Python "
        f"{platform.python_version()}, dvc {version('dvc')}, mlflow {version('mlflow')}; "
        f"load average (1, 5, 15 min) at the end: {load}; suite took "
        f"{time.perf_counter() - started:.0f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller data (CI)")
    parser.add_argument("--only", nargs="+", choices=list(CASES), help="run only these cases")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--rows", type=int, default=ROWS, help="rows of the pipeline's CSV")
    parser.add_argument("-v", "--verbose", action="store_true", help="show set-up commands")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C: the temporary folder is removed, the server stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.perf_counter()
    runner = Runner(clean_env(Path(sys.executable).parent), verbose=args.verbose)
    for tool in ("dvc", "dvflow", "git", "mlflow"):
        if not shutil.which(tool, path=runner.env["PATH"]):
            print(f"error: '{tool}' not found on PATH", file=sys.stderr)
            return 1
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="dvflow-bench-") as tmp:
        settings = Settings(Lab(Path(tmp).resolve(), runner, args.rows), runner, args.quick)
        for name in args.only or list(CASES):
            print(f"== {name}", file=sys.stderr, flush=True)
            case_start = time.perf_counter()
            try:
                done = CASES[name](settings)
            except BenchError as exc:
                failed = True
                print(f"error: {exc}", file=sys.stderr)
                done = [Row(CASE_TITLES.get(name, name), "-", status="error")]
            rows += done
            print(table(done), file=sys.stderr)  # a run stopped later keeps these
            print(f"   {time.perf_counter() - case_start:.0f} s", file=sys.stderr, flush=True)
    header = machine(started)
    mode = "--quick (smoke run, not for quoting)" if args.quick else "full"
    report = f"{header}; mode: {mode}\n\n{table(rows)}\n"
    print(f"\n{report}")
    if args.markdown:
        args.markdown.write_text(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

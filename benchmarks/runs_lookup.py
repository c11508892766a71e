"""Measure ``dvflow runs --data PATH`` over 10,000 runs in a SQLite store.

A throw-away git project in a temporary folder gets a SQLite store with ``--runs``
runs (default 10,000), made with batch calls (``create_run`` then one ``log_batch``
per run: the tags dvflow writes, two params, one metric). Every other run depends on
``data/raw.csv`` at one of 50 versions; the rest depend on other files. Then:

  query any    ``list_runs(data="data/raw.csv")``, in process (the library's answer)
  query @hash  ``list_runs(data="data/raw.csv@<hash>")``, in process
  cli any      the whole ``dvflow runs --data data/raw.csv`` command, wall clock
               (starting Python included; on SQLite it reads the store without
               importing mlflow)
  cli plain    ``dvflow runs`` without a filter, and ``python -c "import mlflow"``:
               what any command costs before it asks anything

Each is timed ``--rounds`` times; the median is printed. Goal: a query under 1 s.
The folder is removed at the end. Exit code 0 whatever the figures (a measurement,
not a test); 1 if an answer is wrong.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VERSIONS = 50
PATH = "data/raw.csv"


def _hash(i: int) -> str:
    return f"{i:032x}"


def make_runs(uri: str, artifacts: Path, count: int) -> str:
    """``count`` runs in experiment ``bench``; returns its id."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(uri)
    experiment = client.create_experiment("bench", artifact_location=artifacts.as_uri())
    now = int(time.time() * 1000)
    for i in range(count):
        run = client.create_run(experiment, start_time=now + i, run_name=f"run-{i}")
        dep = PATH if i % 2 == 0 else f"data/other-{i % 7}.csv"
        run_tags = {
            "dvflow.kind": "stage",
            "dvc.stage": "prepare" if i % 2 == 0 else "train",
            "mlflow.source.git.commit": f"{i % 100:040x}",
            "dvflow.git.dirty": "false",
            "dvflow.fingerprint": f"{i % 100:040x}",
            f"dvc.dep.{dep}": _hash(i % VERSIONS),
            "dvc.dep.src/prepare.py": _hash(7),
            f"dvc.out.data/prepared-{i % 3}.csv": _hash(i),
        }
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", (i % 97) / 97, now, 0)],
            params=[Param("train.lr", str(i % 10 / 10)), Param("prepare.rows", "100")],
            tags=[RunTag(k, v) for k, v in run_tags.items()],
        )
        client.set_terminated(run.info.run_id, end_time=now + i)
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1} runs made", file=sys.stderr)
    return str(experiment)


def _median(func: object, rounds: int) -> tuple[float, object]:
    times, answer = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        answer = func()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="Where the store goes (default /dev/shm).")
    args = parser.parse_args()

    # Making 10,000 runs is 20,000 commits: on a disk, fsync makes that half an hour;
    # in memory (/dev/shm) a few minutes. Reads come from the page cache either way.
    shm = Path("/dev/shm")
    where = args.dir or (str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None)
    folder = Path(tempfile.mkdtemp(prefix="dvflow-runs-lookup-", dir=where))
    print(f"store in {folder}", file=sys.stderr)
    try:
        project = folder / "project"
        project.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = uri
        os.environ["MLFLOW_EXPERIMENT_NAME"] = "bench"
        start = time.perf_counter()
        make_runs(uri, folder / "artifacts", args.runs)
        print(f"made {args.runs} runs in {time.perf_counter() - start:.0f} s", file=sys.stderr)

        from dvflow.restore.listing import list_runs
        from dvflow.workspace import Workspace

        workspace = Workspace.find(project)
        workspace.session()  # opened once, as the command does before it searches
        cwd = Path.cwd()
        os.chdir(project)
        try:
            any_time, any_rows = _median(lambda: list_runs(workspace, data=PATH), args.rounds)
            at = f"{PATH}@{_hash(4)}"  # an even run's version
            hash_time, hash_rows = _median(
                lambda: list_runs(workspace, data=at, limit=1000), args.rounds
            )
        finally:
            os.chdir(cwd)
        expected = args.runs // VERSIONS  # version 4 is on even runs only, all with PATH
        ok = len(any_rows) == 20 and len(hash_rows) == expected  # type: ignore[arg-type]
        dvflow = str(Path(sys.executable).with_name("dvflow"))
        cli_time, _ = _median(
            lambda: subprocess.run(
                [dvflow, "runs", "--data", PATH], cwd=project, check=True, capture_output=True
            ),
            args.rounds,
        )
        plain_time, _ = _median(
            lambda: subprocess.run([dvflow, "runs"], cwd=project, check=True, capture_output=True),
            args.rounds,
        )
        import_time, _ = _median(
            lambda: subprocess.run([sys.executable, "-c", "import mlflow"], check=True),
            args.rounds,
        )
        print(f"runs in store        {args.runs}")
        print(f"query any version    {any_time * 1000:7.0f} ms  ({len(any_rows)} newest)")  # type: ignore[arg-type]
        print(f"query @hash          {hash_time * 1000:7.0f} ms  ({len(hash_rows)} runs)")  # type: ignore[arg-type]
        print(f"cli any version      {cli_time * 1000:7.0f} ms  (whole command)")
        print(f"cli, no filter       {plain_time * 1000:7.0f} ms  (whole command)")
        print(f"python -c 'import mlflow' {import_time * 1000:7.0f} ms  (the floor of any command)")
        return 0 if ok else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

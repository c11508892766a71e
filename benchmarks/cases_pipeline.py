"""Cases about time: CLI start, the tracked pipeline, many stages, the no-op, and the
same pipeline against a tracking server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

from harness import BenchError, Command, Row, Target, cpu_note, seconds
from records import count_runs, expect_runs
from settings import Settings

DVFLOW_FORCE = ["dvflow", "repro", "--force"]
DVC_FORCE = ["dvc", "repro", "--force"]


def cli_start(s: Settings) -> list[Row]:
    """``dvflow --help`` against ``dvc --version``: the price of starting the CLI."""
    here = s.lab.root
    times = s.runner.interleave(
        {
            "dvc": Command(["dvc", "--version"], here),
            "dvflow": Command(["dvflow", "--help"], here),
        },
        s.rounds_fast,
    )
    return [
        Row(
            "CLI start: `dvflow --help`",
            "`dvc --version`",
            seconds(times["dvc"]),
            seconds(times["dvflow"]),
            Target("max_ratio", 1.5),
            notes=[cpu_note(times["dvc"], times["dvflow"])],
        )
    ]


def pipeline(s: Settings) -> list[Row]:
    """The two-stage pipeline: plain DVC, dvflow, the hand-written glue; then no-ops."""
    plain, hand = s.lab.plain, s.lab.handwritten
    uri = f"sqlite:///{plain / 'mlflow.db'}"
    # Warm-up, untimed: creates both SQLite stores (no schema creation is timed) and
    # fills the file-system cache.
    s.warm(DVFLOW_FORCE, plain)
    s.warm(DVC_FORCE, hand)
    before = count_runs(uri)
    forced = s.runner.interleave(
        {
            "dvc": Command(DVC_FORCE, plain),
            "dvflow": Command(DVFLOW_FORCE, plain),
            "hand": Command(DVC_FORCE, hand),
        },
        s.rounds,
    )
    before = expect_runs("pipeline", uri, before, s.rounds, stages=2)
    noop = s.runner.interleave(
        {"dvc": Command(["dvc", "repro"], plain), "dvflow": Command(["dvflow", "repro"], plain)},
        s.rounds_fast,
    )
    expect_runs("no-op", uri, before, 0, stages=2)  # an up-to-date pipeline records nothing
    return [
        Row(
            "tracked pipeline: `dvflow repro --force`, 2 stages",
            "`dvc repro --force`",
            seconds(forced["dvc"]),
            seconds(forced["dvflow"]),
            Target("max_ratio", 1.05),
            notes=[cpu_note(forced["dvc"], forced["dvflow"])],
        ),
        Row(
            "hand-written: each stage script opens MLflow, `dvc repro --force`",
            "`dvflow repro --force`",
            seconds(forced["dvflow"]),
            seconds(forced["hand"]),
            notes=["ratio = hand-written / dvflow", cpu_note(forced["dvflow"], forced["hand"])],
        ),
        Row(
            "no-op: `dvflow repro`, everything up to date",
            "`dvc repro`",
            seconds(noop["dvc"]),
            seconds(noop["dvflow"]),
            Target("max_ratio", 1.1),
            notes=[cpu_note(noop["dvc"], noop["dvflow"])],
        ),
    ]


def many_stages(s: Settings) -> list[Row]:
    """A pipeline of trivial stages under ``--force``: dvflow's cost per stage."""
    count = s.stages
    root = s.lab.many_stages(count)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    s.warm(DVFLOW_FORCE, root)
    before = count_runs(uri)
    times = s.runner.interleave(
        {"dvc": Command(DVC_FORCE, root), "dvflow": Command(DVFLOW_FORCE, root)}, s.rounds
    )
    expect_runs("many stages", uri, before, s.rounds, stages=count)
    base, ours = seconds(times["dvc"]), seconds(times["dvflow"])
    per_stage = (sorted(ours)[len(ours) // 2] - sorted(base)[len(base) // 2]) / count * 1000
    return [
        Row(
            f"many stages: {count} trivial stages, `dvflow repro --force`",
            "`dvc repro --force`",
            base,
            ours,
            Target("max_ratio", 1.10),
            notes=[
                f"{per_stage:.0f} ms per stage over dvc",
                cpu_note(times["dvc"], times["dvflow"]),
            ],
        )
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(uri: str) -> bool:
    """Whether the server at ``uri`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def tracking_server(s: Settings) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 with one worker and a SQLite store; yields its URI
    once it answers /health, stops it on the way out."""
    folder = s.lab.root / "server"
    folder.mkdir()
    port = _free_port()
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [
            "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "artifacts"),
        ],
        cwd=folder,
        env={**s.runner.env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers go with it
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                tail = (folder / "server.log").read_text()[-1500:]
                raise BenchError(f"mlflow server exited {proc.returncode} too early\n{tail}")
            if _healthy(uri):
                break
            if time.monotonic() > deadline:
                raise BenchError("mlflow server did not answer /health within 180 s")
            time.sleep(0.3)
        yield uri
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        log.close()


def server(s: Settings) -> list[Row]:
    """The two-stage pipeline recorded over HTTP (loopback, one worker) vs embedded."""
    plain = s.lab.plain
    embedded = f"sqlite:///{plain / 'mlflow.db'}"
    s.warm(DVFLOW_FORCE, plain)  # the embedded store exists (schema not timed)
    started = time.perf_counter()
    with tracking_server(s) as uri:
        startup = time.perf_counter() - started
        remote = {"MLFLOW_TRACKING_URI": uri}
        s.warm(DVFLOW_FORCE, plain, **remote)
        before = count_runs(embedded), count_runs(uri)
        times = s.runner.interleave(
            {
                "embedded": Command(DVFLOW_FORCE, plain),
                "server": Command(DVFLOW_FORCE, plain, remote),
            },
            s.rounds,
        )
        expect_runs("server (embedded)", embedded, before[0], s.rounds, stages=2)
        expect_runs("server", uri, before[1], s.rounds, stages=2)
    return [
        Row(
            "tracking server (loopback, 1 worker): `dvflow repro --force`",
            "the same on the embedded SQLite store",
            seconds(times["embedded"]),
            seconds(times["server"]),
            notes=[
                f"server answered /health after {startup:.1f} s",
                cpu_note(times["embedded"], times["server"]) + " (dvflow's side only)",
            ],
        )
    ]

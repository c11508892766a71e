"""The benchmark suite's own machinery (benchmarks/): verdicts, and what a timed
command's process tree is credited with (CPU time, bytes read, a failure)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    """benchmarks/harness.py, imported as run.py imports it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import harness

    return harness


def test_verdicts(bench: Any) -> None:
    row, target = bench.Row, bench.Target
    assert row("a", "b", [1.0], [1.04], target("max_ratio", 1.05)).verdict() == "pass"
    assert row("a", "b", [1.0], [1.2], target("max_ratio", 1.05)).verdict() == "FAIL"
    assert row("a", "b", [60.0], [1.0], target("min_speedup", 50)).verdict() == "pass"
    assert row("a", "b", [40.0], [1.0], target("min_speedup", 50)).verdict() == "FAIL"
    assert row("a", "-", None, [0.5], target("max_seconds", 1)).verdict() == "pass"
    assert row("a", "b", [1.0], [3.0]).verdict() == "report"
    # A ratio met does not hide a condition missed (bytes read, memory bound).
    missed = row("a", "b", [1.0], [1.0], target("max_ratio", 1.1), conditions={"x": False})
    assert missed.verdict() == "FAIL"
    assert row("a", "b", status="not built").verdict() == "not built"
    assert "| a | b | - | - | - |" in bench.table([row("a", "b", status="not built")])


def test_a_child_s_reads_and_cpu_are_credited_to_the_command(bench: Any, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"\0" * (8 << 20))
    runner = bench.Runner(bench.clean_env(Path(sys.executable).parent))
    # The file is read by a grandchild: the shell's child, reaped by the shell.
    reader = bench.Command(["sh", "-c", f"cat {data} > /dev/null; true"], tmp_path)
    idle = bench.Command(["sh", "-c", "true; true"], tmp_path)
    read = runner.run(reader, monitor=True)
    assert read.rchar >= 8 << 20
    assert runner.run(idle, monitor=True).rchar < 1 << 20
    busy = bench.Command([sys.executable, "-c", "sum(range(3_000_000))"], tmp_path)
    sample = runner.run(busy, monitor=True)
    assert sample.cpu > 0
    assert sample.peak_rss > 0


def test_a_failing_command_is_an_error_with_its_last_lines(bench: Any, tmp_path: Path) -> None:
    runner = bench.Runner(bench.clean_env(Path(sys.executable).parent))
    failing = bench.Command(["sh", "-c", "echo the reason >&2; exit 3"], tmp_path)
    with pytest.raises(bench.BenchError, match=r"exited 3\nthe reason"):
        runner.run(failing)


def test_no_store_counts_no_run_and_creates_none(bench: Any, tmp_path: Path) -> None:
    import records

    assert records.count_runs(f"sqlite:///{tmp_path / 'mlflow.db'}") == (0, 0)
    assert not (tmp_path / "mlflow.db").exists()

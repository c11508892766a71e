"""The step files of a running stage, read where the last look stopped."""

import os
import time
from pathlib import Path

from dvflow.recorder.protocol import StepSeries
from dvflow.recorder.stream import StageStream

HEADER = "timestamp\tstep\tloss\n"


def _row(step: int, value: float) -> str:
    return f"1700000000000\t{step}\t{value}\n"


def test_new_complete_rows_only_each_step_once(tmp_path: Path) -> None:
    folder = tmp_path / "dvclive" / "plots" / "metrics" / "train"
    folder.mkdir(parents=True)
    tsv = folder / "loss.tsv"
    stream = StageStream(tmp_path, [StepSeries("dvclive/plots/metrics", "step")], time.time())
    assert stream.poll() == []  # nothing written yet
    tsv.write_text(HEADER + _row(0, 1.0) + "1700000000000\t1\t0.")  # a row being written
    points = stream.poll()
    assert [(p.name, p.step, p.value) for p in points] == [("train/loss", 0, 1.0)]
    with tsv.open("a") as out:
        out.write("5\n" + _row(2, 0.25))
    assert [(p.step, p.value) for p in stream.poll()] == [(1, 0.5), (2, 0.25)]
    assert stream.poll() == []
    assert stream.streamed == {"train/loss": {0, 1, 2}}


def test_a_file_written_anew_is_read_from_its_start_without_repeating_steps(
    tmp_path: Path,
) -> None:
    tsv = tmp_path / "loss.tsv"
    stream = StageStream(tmp_path, [StepSeries("loss.tsv", "step")], time.time())
    tsv.write_text(HEADER + _row(0, 1.0) + _row(1, 0.5))
    assert len(stream.poll()) == 2
    tsv.unlink()  # DVCLive resets its folder when a Live starts
    tsv.write_text(HEADER + _row(0, 1.0) + _row(1, 0.5) + _row(2, 0.3))
    assert [p.step for p in stream.poll()] == [2]


def test_an_earlier_runs_file_is_not_read(tmp_path: Path) -> None:
    tsv = tmp_path / "loss.tsv"
    tsv.write_text(HEADER + _row(0, 9.0))
    hour_ago = time.time() - 3600
    os.utime(tsv, (hour_ago, hour_ago))
    stream = StageStream(tmp_path, [StepSeries("loss.tsv", "step")], time.time())
    assert stream.poll() == []


def test_without_x_the_row_is_the_step_and_declared_columns_are_named(tmp_path: Path) -> None:
    csv = tmp_path / "scores.csv"
    csv.write_text("acc,loss\n0.5,1.0\n0.7,0.5\n")
    stream = StageStream(tmp_path, [StepSeries("scores.csv", None, ["acc", "loss"])], 0.0)
    points = [(p.name, p.step, p.value) for p in stream.poll()]
    assert points == [
        ("scores/acc", 0, 0.5),
        ("scores/loss", 0, 1.0),
        ("scores/acc", 1, 0.7),
        ("scores/loss", 1, 0.5),
    ]

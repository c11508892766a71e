"""The recorder protocol: typed messages, one JSON line each, versioned."""

import json
from pathlib import Path

import pytest

from dvflow.recorder.protocol import (
    VERSION,
    Abort,
    Answer,
    Finish,
    ProtocolError,
    StageOutcome,
    StageStatus,
    Start,
    decode,
    encode,
)
from dvflow.snapshot.data import DataVersion
from dvflow.snapshot.results import Results


def test_every_message_survives_a_round_trip() -> None:
    version = DataVersion("data/raw.csv", "dep", "data/raw.csv.dvc", "abc", "md5", 3, None, None)
    results = Results(
        metrics={"acc": 0.5},
        series={"loss": [(0, 1.0), (1, 0.5)]},
        images=[Path("/p/plots/cm.png")],
        data_plots=[Path("/p/plots/roc.csv")],
        problems=["bad.json: not JSON (not recorded)"],
    )
    messages = [
        Start("/p", "sqlite:////p/mlflow.db", "exp", None, "inv", {"t": "v"}, 1.5, user="ann"),
        StageOutcome("train", StageStatus.RESTORED, 1.0, 2.0, [version], {"lr": 0.1}, results, 0),
        Finish("FINISHED", {"root": "/p"}, results, {"lineage.txt": "x"}, True, {"dirty": False}),
        Abort(),
        Answer("run1", {"train": "run2"}, None, ["could not close"]),
    ]
    for message in messages:
        line = encode(message)
        assert "\n" not in line
        assert json.loads(line)["v"] == VERSION
        assert decode(line) == message


def test_a_message_of_another_version_is_refused() -> None:
    line = json.loads(encode(Abort()))
    line["v"] = VERSION + 1
    with pytest.raises(ProtocolError, match="version"):
        decode(json.dumps(line))
    with pytest.raises(ProtocolError, match="unknown"):
        decode(json.dumps({"v": VERSION, "type": "nope"}))
    with pytest.raises(ProtocolError, match="not a recorder message"):
        decode("{broken")


def test_statuses_map_to_mlflow_statuses() -> None:
    assert StageStatus.RAN.run_status == "FINISHED"
    assert StageStatus.SKIPPED.run_status == "FINISHED"
    assert StageStatus.FAILED.run_status == "FAILED"
    assert StageStatus.NOT_RUN.run_status == "KILLED"
    assert [s for s in StageStatus if s.executed] == [StageStatus.RAN, StageStatus.RESTORED]
    assert StageStatus("not-run") is StageStatus.NOT_RUN


def test_stage_started_and_its_reply_survive_a_round_trip() -> None:
    from dvflow.recorder.protocol import StageRun, StageStarted, StepSeries

    started = StageStarted(
        "train", 1.5, "python train.py", [StepSeries("dvclive/plots/metrics", "step", None)]
    )
    for message in (started, StageRun("train", "abc"), StageRun("train", None)):
        assert decode(encode(message)) == message


def test_a_version_1_line_of_an_older_journal_is_still_read() -> None:
    line = json.loads(encode(StageOutcome("train", StageStatus.RAN, 1.0, 2.0, [], {})))
    line["v"] = 1
    assert decode(json.dumps(line)).address == "train"  # type: ignore[union-attr]

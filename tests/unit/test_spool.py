"""The journal format, process liveness, and signals held while a stage is reported."""

import signal
from pathlib import Path

import pytest

from dvflow.recorder.protocol import Finish, ProtocolError, StageOutcome, StageStatus, Start
from dvflow.recorder.spool import Journal, process_alive, process_id, read_journal, waiting
from dvflow.repro.stagerunner import deferred_interrupts


def _start() -> Start:
    return Start(
        root="/p",
        tracking_uri="https://user:s3cret@mlflow.acme.dev",
        experiment="e",
        artifacts=None,
        invocation="inv1",
        base_tags={},
        started_at=1.0,
    )


def _stage(address: str) -> StageOutcome:
    return StageOutcome(address, StageStatus.RAN, 1.0, 2.0, [], {"lr": 0.1})


def test_a_journal_keeps_messages_but_no_credentials(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "inv1")
    journal.append(_start())
    journal.append(_stage("train"))
    journal.append(Finish("FINISHED", None, None, {}, ended=3.0))
    assert "s3cret" not in journal.path.read_text()
    [spooled] = waiting(tmp_path)
    assert spooled.invocation == "inv1"
    assert [s.address for s in spooled.stages] == ["train"]
    assert spooled.finish is not None and spooled.finish.ended == 3.0
    journal.discard()
    assert waiting(tmp_path) == []


def test_a_line_cut_short_by_a_kill_is_dropped_only_at_the_end(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "inv1")
    journal.append(_start())
    journal.append(_stage("a"))
    with journal.path.open("a") as out:
        out.write('{"v": 1, "type": "stage", "addr')
    assert [s.address for s in read_journal(journal.path).stages] == ["a"]
    journal.path.write_text('{"v": 1, "type": "st\n' + journal.path.read_text())
    with pytest.raises(ProtocolError):
        read_journal(journal.path)


def test_process_liveness() -> None:
    assert process_alive(process_id())
    host, pid, started = process_id().rsplit(":", 2)
    assert not process_alive(f"{host}:{pid}:{float(started) - 1000:.2f}")  # pid reused
    assert process_alive(f"another-host:{pid}:0")  # cannot tell: never closed


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_stage_is_reported_waits_until_it_is(number: int) -> None:
    reported = []
    # The handlers dvflow's CLI process has (pytest's worker may have others).
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(
            signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt)
        ),
    }
    try:
        with pytest.raises(KeyboardInterrupt), deferred_interrupts():
            signal.raise_signal(number)  # in this thread, whatever threads others left
            reported.append("stage")
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
    assert reported == ["stage"]

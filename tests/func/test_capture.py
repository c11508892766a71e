"""The stderr tee: everything still reaches stderr, the last lines are kept."""

import os
import subprocess
import sys
import time

import pytest

from dvflow.repro.capture import StderrTail


def test_tail_keeps_the_last_lines_of_child_processes(capfd: pytest.CaptureFixture[str]) -> None:
    terminal = os.fstat(2)
    with StderrTail(lines=3) as tail:
        tail.mark()
        code = "import sys\nfor i in range(10):\n    print(f'line {i}', file=sys.stderr)\n"
        subprocess.run([sys.executable, "-c", code], check=True)
        kept = tail.tail()
    assert kept.splitlines() == ["line 7", "line 8", "line 9"]
    # Everything still reached the real stderr, which is file descriptor 2 again.
    assert capfd.readouterr().err.splitlines() == [f"line {i}" for i in range(10)]
    restored = os.fstat(2)
    assert (restored.st_dev, restored.st_ino) == (terminal.st_dev, terminal.st_ino)


def test_tail_includes_what_was_written_just_before() -> None:
    # The tail is read right after a write, before the copying thread had a chance to
    # run: it must still contain that write, every time.
    with StderrTail(lines=2) as tail:
        for i in range(200):
            os.write(2, f"line {i}\n".encode())
            assert tail.tail().splitlines()[-1] == f"line {i}"


def test_mark_forgets_what_an_earlier_stage_wrote() -> None:
    with StderrTail() as tail:
        for i in range(100):
            os.write(2, f"stage {i} output\n".encode())
            tail.mark()
            os.write(2, f"stage {i + 1} output\n".encode())
            assert tail.tail() == f"stage {i + 1} output"


@pytest.mark.slow  # waits for the copying thread to give up (5 s)
def test_a_process_that_outlives_the_block_does_not_hang_it() -> None:
    started = time.monotonic()
    with StderrTail() as tail:
        # A stage that leaves a background process behind, still holding stderr.
        lingering = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(8)"])
        os.write(2, b"before exit\n")
    assert time.monotonic() - started < 8
    assert "before exit" in tail.tail()
    lingering.kill()
    lingering.wait()


def test_a_terminal_stderr_is_teed_through_a_pseudo_terminal() -> None:
    import pty

    code = (
        "import os, subprocess, sys\n"
        "from dvflow.repro.capture import StderrTail\n"
        "with StderrTail(lines=2) as tail:\n"
        "    subprocess.run([sys.executable, '-c', 'import sys; print(1, 2, 3, sep=chr(10),"
        " file=sys.stderr)'], check=True)\n"
        "    kept = tail.tail()\n"
        "print(repr(kept), os.isatty(2))\n"
    )
    controller, terminal = pty.openpty()
    result = subprocess.run(
        [sys.executable, "-c", code],
        stderr=terminal,
        stdout=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(terminal)
    os.close(controller)
    assert result.returncode == 0
    assert result.stdout.strip() == "'2\\n3' True"

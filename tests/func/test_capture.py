"""The stderr tee: everything still reaches stderr, the last lines are kept."""

import os
import subprocess
import sys
import time

from dvflow.repro.capture import StderrTail


def test_tail_keeps_the_last_lines_of_child_processes() -> None:
    with StderrTail(lines=3) as tail:
        tail.mark()
        code = "import sys\nfor i in range(10):\n    print(f'line {i}', file=sys.stderr)\n"
        subprocess.run([sys.executable, "-c", code], check=True)
        kept = tail.tail()
    assert kept.splitlines() == ["line 7", "line 8", "line 9"]
    os.write(2, b"")  # stderr is the real one again


def test_a_process_that_outlives_the_block_does_not_hang_it() -> None:
    started = time.monotonic()
    with StderrTail() as tail:
        # A stage that leaves a background process behind, still holding stderr.
        lingering = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(8)"])
        os.write(2, b"before exit\n")
    assert time.monotonic() - started < 8
    assert "before exit" in tail.tail()
    lingering.wait()

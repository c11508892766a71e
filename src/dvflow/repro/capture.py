"""Keeping the last lines of stderr while it still reaches the terminal.

A failing stage's run gets the tail of what it printed on stderr. Stage commands
inherit dvflow's file descriptor 2, so it is redirected through a pipe (a pseudo
terminal when stderr is one, so that colours and progress bars stay as they are) and a
thread copies everything to the real stderr, keeping the last lines.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from types import TracebackType

TAIL_LINES = 50


class StderrTail:
    """Context manager: tee file descriptor 2, keep its last ``TAIL_LINES`` lines."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        self._lines: deque[bytes] = deque(maxlen=lines)
        self._partial = b""
        self._lock = threading.Lock()
        self._saved_fd = -1
        self._read_fd = -1
        self._thread: threading.Thread | None = None
        # Set when a process outlives the block while still holding stderr: the pump
        # then owns the descriptors and closes them once that process lets go.
        self._detached = False

    def __enter__(self) -> StderrTail:
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        if os.isatty(2):
            import pty

            self._read_fd, write_fd = pty.openpty()
        else:
            self._read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, name="dvflow-stderr", daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self._read_fd, 65536)
            except OSError:  # a pty reports EIO once every writer is gone
                break
            if not chunk:
                break
            with contextlib.suppress(OSError):
                os.write(self._saved_fd, chunk)
            with self._lock:
                *complete, self._partial = (self._partial + chunk).split(b"\n")
                self._lines.extend(complete)
        with self._lock:
            if self._detached:
                os.close(self._read_fd)
                os.close(self._saved_fd)

    @property
    def terminal_fd(self) -> int:
        """The real stderr, for a long-lived helper process whose output must not hold
        the tee open (the tee ends when every writer of its pipe is gone)."""
        return self._saved_fd

    def mark(self) -> None:
        """Forget what was kept so far (a new stage starts)."""
        with self._lock:
            self._lines.clear()
            self._partial = b""

    def tail(self) -> str:
        """The last lines written since the last ``mark``."""
        with self._lock:
            lines = [*self._lines, self._partial] if self._partial else list(self._lines)
        return b"\n".join(lines).decode("utf-8", errors="replace").replace("\r", "")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sys.stderr.flush()
        os.dup2(self._saved_fd, 2)  # closes our write end: the pump sees end of file
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                # A background process of a stage still holds the pipe.
                self._detached = True
                return
        os.close(self._read_fd)
        os.close(self._saved_fd)

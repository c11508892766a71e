"""Keeping the last lines of stderr while it still reaches the terminal.

A failing stage's run gets the tail of what it printed on stderr. Stage commands
inherit dvflow's file descriptor 2, so it is redirected through a pipe (a pseudo
terminal when stderr is one, so that colours and progress bars stay as they are) and a
thread copies everything to the real stderr, keeping the last lines.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from collections import deque
from types import TracebackType

TAIL_LINES = 50
# How much ``tail()`` drains at most, so that a process that never stops writing
# cannot keep it reading forever.
_DRAIN_CHUNKS = 64


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
        self._eof = False

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
        # Non-blocking, so that whoever holds the lock can drain the pipe and stop.
        os.set_blocking(self._read_fd, False)
        self._thread = threading.Thread(target=self._pump, name="dvflow-stderr", daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        while True:
            _wait_readable(self._read_fd)
            with self._lock:
                if self._eof or self._read_chunk() is None:
                    break
        with self._lock:
            if self._detached:
                self._close()

    def _read_chunk(self) -> bytes | None:
        """Copy one chunk from the pipe to the terminal and keep its lines; b"" when the
        pipe is empty now, None at end of file. The caller holds the lock."""
        try:
            chunk = os.read(self._read_fd, 65536)
        except BlockingIOError:
            return b""
        except OSError:  # a pty reports EIO once every writer is gone
            chunk = b""
        if not chunk:
            self._eof = True
            return None
        with contextlib.suppress(OSError):
            os.write(self._saved_fd, chunk)
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        self._lines.extend(complete)
        return chunk

    def _close(self) -> None:
        os.close(self._read_fd)
        os.close(self._saved_fd)
        self._read_fd = self._saved_fd = -1

    @property
    def terminal_fd(self) -> int:
        """The real stderr, for a long-lived helper process whose output must not hold
        the tee open (the tee ends when every writer of its pipe is gone)."""
        return self._saved_fd

    def _drain(self) -> None:
        """Read what is already in the pipe. The caller holds the lock."""
        for _ in range(_DRAIN_CHUNKS):
            if self._read_fd < 0 or self._eof or not self._read_chunk():
                return

    def mark(self) -> None:
        """Forget what was kept so far (a new stage starts)."""
        sys.stderr.flush()
        with self._lock:
            self._drain()  # what the previous stage wrote is not this stage's
            self._lines.clear()
            self._partial = b""

    def tail(self) -> str:
        """The last lines written since the last ``mark``, including everything that
        processes which already returned wrote."""
        sys.stderr.flush()
        with self._lock:
            self._drain()
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
            self._close()


def _wait_readable(fd: int) -> None:
    """Block until ``fd`` has data or reached end of file."""
    if hasattr(select, "poll") and sys.platform != "darwin":
        poller = select.poll()  # select() cannot watch descriptors above 1023
        poller.register(fd, select.POLLIN)
        poller.poll()
    else:  # macOS's poll() does not support pseudo terminals
        select.select([fd], [], [])

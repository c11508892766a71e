"""The offline spool: the recorder's messages kept on disk until the store has them.

Every ``dvflow repro`` that records anything writes its messages (``protocol.py``) to
``<project home>/.dvflow/tmp/spool/<invocation>.jsonl`` as it sends them: a journal
written ahead of the store. When the recorder answers that everything was written,
the journal is deleted. When the store could not be reached, or the recorder died or
failed half-way, the journal stays and ``dvflow sync`` replays it (``replay.py``).

The journal holds no credentials: the tracking URI is written as it may be printed,
and ``dvflow sync`` writes to the store configured when it runs.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path

from dvflow.project import STATE_DIR
from dvflow.recorder.protocol import (
    Finish,
    Message,
    ProtocolError,
    StageOutcome,
    Start,
    decode,
    encode,
)
from dvflow.tracking import schema as tags
from dvflow.tracking.store import display_uri

SPOOL_DIR = STATE_DIR / "spool"
SUFFIX = ".jsonl"
# The local MLflow store stage scripts write to while the tracking store is away.
SCRIPTS_DB = "scripts.db"


def spool_dir(home: Path) -> Path:
    """Where the journals of the project at ``home`` are kept."""
    return home / SPOOL_DIR


def process_id() -> str:
    """``host:pid:start-time`` of this process: whether it is still alive can be told
    later (a bare pid is reused), on this host only."""
    import psutil

    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{me.create_time():.2f}"


def process_alive(ident: str) -> bool:
    """Whether the process named by ``process_id`` runs; True when it cannot be told
    (another host, or a malformed value): never close someone else's live run."""
    import psutil

    try:
        host, pid, started = ident.rsplit(":", 2)
        if host != socket.gethostname():
            return True
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 1.0
    except psutil.NoSuchProcess:
        return False
    except (ValueError, psutil.Error):
        return True


class Journal:
    """The journal of one invocation, appended as messages are sent."""

    def __init__(self, home: Path, invocation: str) -> None:
        self.path = spool_dir(home) / f"{invocation}{SUFFIX}"

    def append(self, message: Message) -> None:
        """Add one message; a ``Start`` is written without credentials."""
        if isinstance(message, Start):
            message = replace(message, tracking_uri=display_uri(message.tracking_uri))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(encode(message) + "\n")
            out.flush()
            if isinstance(message, Finish):
                os.fsync(out.fileno())

    def discard(self) -> None:
        """The store has everything: forget the journal."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass
class Spooled:
    """One journal waiting to be synced."""

    path: Path
    start: Start
    stages: list[StageOutcome]
    finish: Finish | None

    @property
    def invocation(self) -> str:
        return self.start.invocation

    @property
    def in_progress(self) -> bool:
        """Whether the ``dvflow repro`` writing it still runs (then it is not synced)."""
        ident = self.start.base_tags.get(tags.PROCESS)
        return ident is not None and process_alive(ident)


def read_journal(path: Path) -> Spooled:
    """The messages of one journal. A last line cut short (the process was killed while
    writing it) is dropped; anything else unreadable raises.

    Raises:
        ProtocolError: the journal does not start with ``Start``, or a line is not a
            message of this version.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    messages: list[Message] = []
    for number, line in enumerate(lines):
        try:
            messages.append(decode(line))
        except ProtocolError:
            if number == len(lines) - 1:
                break  # cut short by a kill: the stage's record is incomplete anyway
            raise
    if not messages or not isinstance(messages[0], Start):
        raise ProtocolError(f"{path} does not start with a recorder Start message")
    stages = [m for m in messages if isinstance(m, StageOutcome)]
    finish = next((m for m in messages if isinstance(m, Finish)), None)
    return Spooled(path, messages[0], stages, finish)


def waiting(home: Path) -> list[Spooled]:
    """Every journal of the project at ``home``, oldest first."""
    folder = spool_dir(home)
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
    return [read_journal(path) for path in paths]

"""The messages between ``dvflow repro`` and its recorder process: typed and versioned.

DVC runs in dvflow's own process; MLflow is written from a separate recorder process
(see ``process.py``). Each message is one JSON line: ``{"v": VERSION, "type": ..., ...}``.
A recorder refuses a message of another version instead of misreading it. The same
lines are meant to be kept on disk (an offline spool), so every field is plain data.

Messages, in order: one ``Start``; per stage, a ``StageStarted`` when DVC runs its
command (not for a stage DVC skips or restores from its run cache) and a ``StageOutcome``
when it ends; then ``Finish`` or ``Abort``. The recorder answers each ``StageStarted``
with a ``StageRun`` (the run it created, RUNNING; nobody waits for it) and ``Finish``
with one ``Answer``.

Version 2 added ``StageStarted`` and ``StageRun``; a version 1 line (a journal spooled
by an older dvflow) is still read, as it means the same.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from dvflow.snapshot.data import DataVersion
from dvflow.snapshot.results import Results

VERSION = 2
# The versions whose lines this one reads: 2 only added messages.
READABLE = (1, 2)


class ProtocolError(ValueError):
    """A line that is not a message of this version of the protocol."""


class StageStatus(str, Enum):
    """What happened to one stage, as seen from DVC's side (tag ``dvflow.stage.status``)."""

    RAN = "ran"
    RESTORED = "restored"  # from DVC's run cache
    SKIPPED = "skipped"  # nothing changed
    FAILED = "failed"
    KILLED = "killed"  # Ctrl-C or SIGTERM
    NOT_RUN = "not-run"  # a failure or an interruption stopped the pipeline before it

    @property
    def executed(self) -> bool:
        """Whether the stage produced its outputs now (ran, or restored from the cache)."""
        return self in (StageStatus.RAN, StageStatus.RESTORED)

    @property
    def has_results(self) -> bool:
        """Whether its metrics and plots files are this invocation's (a failed stage may
        have written some before it failed)."""
        return self.executed or self is StageStatus.FAILED

    @property
    def run_status(self) -> str:
        """The MLflow status its run ends with."""
        return _RUN_STATUS[self]


_RUN_STATUS = {
    StageStatus.RAN: "FINISHED",
    StageStatus.RESTORED: "FINISHED",
    StageStatus.SKIPPED: "FINISHED",
    StageStatus.FAILED: "FAILED",
    StageStatus.KILLED: "KILLED",
    StageStatus.NOT_RUN: "KILLED",  # cancelled
}


@dataclass
class Start:
    """Where and for which invocation the recorder writes."""

    TYPE: ClassVar[str] = "start"

    root: str
    tracking_uri: str
    experiment: str
    artifacts: str | None
    invocation: str
    base_tags: dict[str, str]
    started_at: float
    # What the run's own source is (MLflow's mlflow.source.name / mlflow.user tags).
    source_name: str = "dvflow repro"
    user: str | None = None
    # The parent run's name, from the code state that made it (tracking.runname).
    run_name: str | None = None
    # Sample CPU, memory, disk, network (and GPU) into each running stage's run:
    # MLflow's system metrics monitor, run by the recorder (setting system_metrics).
    system_metrics: bool = False


@dataclass
class StepSeries:
    """A file (or a folder of files) a stage writes a metric history into, row by row,
    as its plot definition draws it: ``x`` the step column (None: the row index), ``y``
    the value columns (None: the last column). ``path`` is repo-relative, posix."""

    path: str
    x: str | None = None
    y: list[str] | None = None


@dataclass
class StageStarted:
    """DVC is about to run a stage's command: its run is created now, RUNNING, and the
    step files it writes are streamed into it until its ``StageOutcome``."""

    TYPE: ClassVar[str] = "stage-started"

    address: str
    started: float
    command: str | None = None
    streams: list[StepSeries] = field(default_factory=list)
    # Where the run's id is written for the stage's script (``rendezvous.py``).
    run_file: str | None = None


@dataclass
class StageRun:
    """The recorder's reply to ``StageStarted``: the stage's run (None: not created)."""

    TYPE: ClassVar[str] = "stage-run"

    address: str
    run_id: str | None


@dataclass
class StageOutcome:
    """What happened to one stage."""

    TYPE: ClassVar[str] = "stage"

    address: str
    status: StageStatus
    started: float
    ended: float
    versions: list[DataVersion]
    params: dict[str, Any]
    results: Results | None = None
    exit_code: int | None = None
    error: str | None = None
    stderr_tail: str | None = None
    command: str | None = None
    run_id: str | None = None


@dataclass
class Finish:
    """How the pipeline ended, and what the parent run gets.

    ``snapshot`` is the pipeline's snapshot with the code state that MADE the run
    (read before DVC ran); ``result_code`` is the code state the invocation LEFT
    (``dvc.lock`` and the outputs DVC keeps in git rewritten): the tree to commit.
    """

    TYPE: ClassVar[str] = "finish"

    status: str
    snapshot: dict[str, Any] | None
    results: Results | None
    lineage: dict[str, str]
    force_parent: bool = False
    result_code: dict[str, Any] | None = None
    # When the pipeline ended: a run replayed from the spool ends then, not at the sync.
    ended: float | None = None


@dataclass
class Abort:
    """Nothing ran: stop without recording anything."""

    TYPE: ClassVar[str] = "abort"


@dataclass
class Answer:
    """The recorder's one reply to ``Finish``."""

    TYPE: ClassVar[str] = "answer"

    parent_run_id: str | None
    runs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    # The journal that waits for `dvflow sync` when the store did not get everything.
    spooled: Path | None = None


Message = Start | StageStarted | StageRun | StageOutcome | Finish | Abort | Answer
_TYPES: dict[str, type[Any]] = {
    cls.TYPE: cls for cls in (Start, StageStarted, StageRun, StageOutcome, Finish, Abort, Answer)
}


def _results_to_dict(results: Results) -> dict[str, Any]:
    data = asdict(results)
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], Path):
            data[key] = [str(p) for p in value]
    data["series"] = {name: [list(p) for p in pts] for name, pts in results.series.items()}
    return data


def _results_from_dict(data: dict[str, Any]) -> Results:
    values: dict[str, Any] = {}
    paths = {f.name for f in fields(Results) if "Path" in str(f.type)}
    for name, value in data.items():
        if name == "series":
            value = {k: [(int(s), float(v)) for s, v in pts] for k, pts in value.items()}
        elif name in paths:
            value = [Path(p) for p in value]
        values[name] = value
    return Results(**values)


def encode(message: Message) -> str:
    """One JSON line (without the newline) for ``message``."""
    data = asdict(message)
    if isinstance(message, StageOutcome):
        data["status"] = message.status.value
        data["versions"] = [v.to_dict() for v in message.versions]
    if isinstance(message, (StageOutcome, Finish)):
        data["results"] = _results_to_dict(message.results) if message.results else None
    return json.dumps({"v": VERSION, "type": message.TYPE, **data})


def decode(line: str) -> Message:
    """The message of one JSON line.

    Raises:
        ProtocolError: not JSON, another protocol version, or an unknown message.
    """
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not a recorder message: {line[:80]!r}") from exc
    if not isinstance(data, dict) or data.pop("v", None) not in READABLE:
        raise ProtocolError(f"not a version {VERSION} recorder message: {line[:80]!r}")
    cls = _TYPES.get(data.pop("type", None))
    if cls is None:
        raise ProtocolError(f"unknown recorder message: {line[:80]!r}")
    if cls is StageOutcome:
        data["status"] = StageStatus(data["status"])
        data["versions"] = [DataVersion(**v) for v in data["versions"]]
    if cls is StageStarted:
        data["streams"] = [StepSeries(**s) for s in data.get("streams") or []]
    if cls in (StageOutcome, Finish):
        data["results"] = _results_from_dict(data["results"]) if data["results"] else None
    try:
        message: Message = cls(**data)
    except TypeError as exc:
        raise ProtocolError(f"malformed {cls.TYPE} message: {exc}") from exc
    return message


@dataclass
class PipelineOutcome:
    """What the recorder made of an invocation, as dvflow's process reports it."""

    parent_run_id: str | None
    stages: list[StageOutcome]
    metrics: dict[str, float]
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    # The journal that waits for `dvflow sync` when the store did not get everything.
    spooled: Path | None = None

"""What one ``dvflow repro`` did, as the CLI and ``dvflow demo`` read it."""

from __future__ import annotations

from dataclasses import dataclass, field

from dvflow.recorder.protocol import StageOutcome, StageStatus


@dataclass
class ReproResult:
    """What a ``dvflow repro`` did."""

    tracking_uri: str
    experiment: str
    parent_run_id: str | None
    stages: list[StageOutcome]
    metrics: dict[str, float]
    up_to_date: bool
    previous_run_id: str | None = None
    tracking_error: str | None = None
    # What the recorder could not record, each one line (the run itself was recorded).
    warnings: list[str] = field(default_factory=list)
    # The journal that waits for `dvflow sync` (the store did not get this invocation).
    spooled: str | None = None
    # Whether the spool was announced before the first stage ran (the store could not
    # be reached then): its one warning line is printed already.
    announced: bool = False
    # Journals of earlier invocations still waiting for `dvflow sync`.
    waiting: int = 0

    @property
    def ran(self) -> list[str]:
        """Addresses of the stages that ran (or were restored from DVC's run cache)."""
        return [s.address for s in self.stages if s.status.executed]

    @property
    def skipped(self) -> list[str]:
        """Addresses of the stages DVC skipped because nothing changed."""
        return [s.address for s in self.stages if s.status is StageStatus.SKIPPED]

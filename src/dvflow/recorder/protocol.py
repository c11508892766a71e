"""What ``dvflow repro`` tells its recorder process, as plain JSON-ready data.

DVC runs in dvflow's own process; MLflow is written from a separate recorder process
(see ``recorder.py``). These dataclasses are the messages between the two, one JSON
line each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dvflow.snapshot.data import DataVersion
from dvflow.snapshot.results import Results


@dataclass
class StageOutcome:
    """What happened to one stage, as seen from DVC's side.

    ``status`` is one of ``ran``, ``restored`` (from DVC's run cache), ``skipped``
    (nothing changed), ``failed``, ``killed`` and ``not-run`` (a failure or an
    interruption stopped the pipeline before it).
    """

    address: str
    status: str
    started: float
    ended: float
    versions: list[DataVersion]
    params: dict[str, Any]
    results: Results | None = None
    exit_code: int | None = None
    error: str | None = None
    stderr_tail: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        data = asdict(self)
        data["versions"] = [v.to_dict() for v in self.versions]
        data["results"] = results_to_dict(self.results) if self.results else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageOutcome:
        """The inverse of ``to_dict``."""
        values = dict(data)
        values["versions"] = [DataVersion(**v) for v in data["versions"]]
        values["results"] = results_from_dict(data["results"]) if data["results"] else None
        return cls(**values)


@dataclass
class PipelineOutcome:
    """What the recorder made of an invocation."""

    parent_run_id: str | None
    stages: list[StageOutcome]
    metrics: dict[str, float]
    error: str | None = None


def results_to_dict(results: Results) -> dict[str, Any]:
    """A JSON-ready mapping of ``Results``."""
    return {
        "metrics": results.metrics,
        "series": {name: [list(p) for p in points] for name, points in results.series.items()},
        "images": [str(p) for p in results.images],
    }


def results_from_dict(data: dict[str, Any]) -> Results:
    """The inverse of ``results_to_dict``."""
    return Results(
        metrics=dict(data["metrics"]),
        series={name: [(int(s), float(v)) for s, v in pts] for name, pts in data["series"].items()},
        images=[Path(p) for p in data["images"]],
    )

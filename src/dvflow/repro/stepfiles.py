"""The files a stage writes its metric histories into while it runs: what the recorder
streams into the stage's run (``dvflow.recorder.stream``).

Read from the stage's definition only (its outputs may not exist yet when it starts):

- DVCLive's step files, ``dvclive/plots/metrics/`` in the stage's working directory,
  or ``<output>/plots/metrics/`` of an output folder a ``Live(dir=...)`` writes;
- the stage's ``plots:`` outputs drawn over the step (x undeclared, or a step-like
  column such as ``step`` or ``epoch``), as ``snapshot.results`` reads histories.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.recorder.protocol import StepSeries
from dvflow.snapshot.results import _NOT_HISTORY_TEMPLATES, _STEP_COLUMNS

if TYPE_CHECKING:
    from dvc.stage import Stage

DVCLIVE_METRICS = Path("dvclive", "plots", "metrics")


def step_series(root: Path, stage: Stage) -> list[StepSeries]:
    """The step files of ``stage`` (paths relative to the project ``root``), each once."""
    found: dict[str, StepSeries] = {}

    def add(path: Path, x: str | None = "step", y: list[str] | None = None) -> None:
        if path.is_relative_to(root):
            relative = path.relative_to(root).as_posix()
            found.setdefault(relative, StepSeries(relative, x, y))

    for out in stage.outs:
        path = Path(out.fs_path)
        if out.plot:
            props: dict[str, Any] = out.plot if isinstance(out.plot, dict) else {}
            x, y = props.get("x"), props.get("y")
            if props.get("template") in _NOT_HISTORY_TEMPLATES:
                continue
            if x is not None and (not isinstance(x, str) or x.lower() not in _STEP_COLUMNS):
                continue
            add(path, x, [y] if isinstance(y, str) else y)
        else:
            add(path / "plots" / "metrics")
    add(Path(stage.wdir) / DVCLIVE_METRICS)
    return list(found.values())

"""The project's MLflow helpers, shared by every stage script.

This is the place to customise tracking for your team: tags every run should carry,
how metrics are named, which files are uploaded as artifacts. Each stage in dvc.yaml
depends on this file, so changing it re-runs the pipeline.

The helpers go through dvflow, which links each MLflow run to the exact git commit,
DVC data versions, params and environment of its stage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dvflow

if TYPE_CHECKING:
    import mlflow
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Tags added to every run of this project. Add your own (team, owner, ticket...).
RUN_TAGS: dict[str, str] = {}


@contextmanager
def stage_run(description: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """Open the MLflow run of the current stage.

    Under `dvflow repro` or `dvc repro` the run is named after the DVC stage; the run
    ends FINISHED when the block succeeds and FAILED when it raises.
    """
    with dvflow.start_run(tags=RUN_TAGS, description=description) as run:
        yield run


def stage_params(stage: str) -> dict[str, Any]:
    """The params of `stage`, read from params.yaml the way DVC resolves them."""
    return dict(dvflow.params()[stage])


def log_model_metrics(metrics: Mapping[str, Any], path: str | Path) -> None:
    """Write `metrics` to a JSON file for DVC and log them to the active MLflow run.

    The JSON file is what `dvc metrics show/diff` read; MLflow gets the same numbers
    (nested keys joined with dots) to compare runs in its UI.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if _has_active_run():
        dvflow.log_metrics(metrics)


def save_figure(fig: Figure, path: str | Path) -> None:
    """Save a matplotlib figure as an image for DVC and upload it to the active run."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    if _has_active_run():
        dvflow.log_artifact(path, "plots")


def save_confusion_matrix(
    actual: Sequence[Any],
    predicted: Sequence[Any],
    csv_path: str | Path,
    png_path: str | Path | None = None,
) -> None:
    """Write the confusion matrix of a classifier as DVC plots.

    The CSV has one row per sample with the columns `actual` and `predicted`, the shape
    DVC's `confusion` template expects; the PNG is a rendered matrix for MLflow's UI.
    """
    import pandas as pd

    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"actual": list(actual), "predicted": list(predicted)})
    frame.to_csv(csv_path, index=False)
    if png_path is None:
        return

    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = new_figure()
    ConfusionMatrixDisplay.from_predictions(frame["actual"], frame["predicted"], ax=ax)
    ax.set_title("Confusion matrix")
    save_figure(fig, png_path)


def new_figure(width: float = 5, height: float = 4) -> tuple[Figure, Axes]:
    """A new matplotlib figure and axes, drawn with the Agg backend.

    Agg renders to files only: stages run in terminals, CI and containers that have
    no display.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _has_active_run() -> bool:
    """Whether an MLflow run is open: helpers also work without one (e.g. in tests)."""
    import mlflow

    return mlflow.active_run() is not None

"""Writing metrics and plots where DVC reads them; used by the train and evaluate stages.

Only the stages that import this module list it in their deps in dvc.yaml: editing it
re-runs train and evaluate, not the data stages. The files written here are what
`dvc metrics diff` and `dvc plots diff` compare; the stages log the same numbers and
images to their MLflow runs with dvflow.log_metrics and dvflow.log_artifact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> None:
    """Write `metrics` as the JSON file that `dvc metrics show/diff` read."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def new_figure(width: float = 5, height: float = 4) -> tuple[Figure, Axes]:
    """A new matplotlib figure and axes, drawn with the Agg backend.

    Agg renders to files only: stages run in terminals, CI and containers that have
    no display.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def save_figure(fig: Figure, path: str | Path) -> None:
    """Save a matplotlib figure as a PNG image and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


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

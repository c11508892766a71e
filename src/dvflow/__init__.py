"""dvflow: DVC and MLflow as one system.

The in-script API, for a stage's own code::

    import dvflow

    with dvflow.start_run() as run:
        params = dvflow.params()
        ...
        dvflow.log_metrics({"acc": 0.93})

Importing ``dvflow`` is cheap: mlflow and dvc are imported by the functions that need
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "log_artifact",
    "log_metrics",
    "log_params",
    "params",
    "start_run",
    "take_snapshot",
]

if TYPE_CHECKING:
    from dvflow.run import log_artifact, log_metrics, log_params, params, start_run
    from dvflow.snapshot import Snapshot


def take_snapshot(stage: str | None = None) -> Snapshot:
    """Read the code, data, params and environment of the current project now.

    Example:
        >>> snap = dvflow.take_snapshot()                # doctest: +SKIP
        >>> snap.code.dirty, [v.path for v in snap.data]  # doctest: +SKIP
        (False, ['data'])
    """
    from dvflow.project import find_project
    from dvflow.snapshot import take_snapshot as take

    return take(find_project(), stage=stage)


def __getattr__(name: str) -> Any:
    if name in {"start_run", "params", "log_metrics", "log_params", "log_artifact"}:
        from dvflow import run

        return getattr(run, name)
    raise AttributeError(f"module 'dvflow' has no attribute {name!r}")

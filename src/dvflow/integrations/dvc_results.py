"""The top-level ``metrics:`` and ``plots:`` of every dvc.yaml, through DVC's internals.

DVC's public readers cost too much after every stage of a ``dvc repro``:
``Repo.metrics.show()`` without targets reads every metrics file of the project, and
``Repo.plots.collect()`` enters ``repo.switch("workspace")``, whose brancher resets the
repository on the way out (index, DVC filesystem and state database dropped, every
dvc.yaml parsed again): about 0.5 s per stage in a 40-stage project. A stage needs only
its own files, so we ask DVC for the top-level declarations alone, with the helpers
those public readers call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dvc.repo import Repo


def top_level_metrics(repo: Repo) -> list[str]:
    """The files of every dvc.yaml's top-level ``metrics:``, relative to the repo root.

    Uses ``dvc.repo.metrics.show._collect_top_level_metrics(repo)`` (DVC 3.x), which
    ``Repo.metrics.show`` calls when given no targets.
    """
    from dvc.repo.metrics.show import _collect_top_level_metrics

    return list(_collect_top_level_metrics(repo))


def top_level_plot_definitions(repo: Repo) -> dict[str, Any]:
    """The top-level ``plots:`` of every dvc.yaml, as ``Repo.plots.collect()`` gives
    them: ``{dvc.yaml path: {"data": {plot_id or data file: props}}}``, a folder
    expanded to its files; ``{"error": exception}`` where a folder cannot be listed.
    Paths are relative to the current directory.

    Uses ``dvc.repo.plots._collect_pipeline_files(repo, targets, props, onerror)``
    (DVC 3.x), which ``Repo.plots.collect`` calls for each revision.
    """
    from dvc.repo.plots import _collect_pipeline_files, onerror_collect

    definitions: dict[str, Any] = _collect_pipeline_files(
        repo, targets=[], props={}, onerror=onerror_collect
    )
    return definitions

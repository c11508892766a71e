"""The options of one ``dvflow repro``: ``dvc repro``'s own, plus dvflow's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReproOptions:
    """Every option of ``dvc repro`` (``dvc/commands/repro.py``), plus dvflow's own
    (``experiment``, ``record``)."""

    targets: Sequence[str] = ()
    force: bool = False
    single_item: bool = False
    downstream: bool = False
    recursive: bool = False
    all_pipelines: bool = False
    pull: bool = False
    dry: bool = False
    keep_going: bool = False
    interactive: bool = False
    pipeline: bool = False
    force_downstream: bool = False
    allow_missing: bool = False
    no_commit: bool = False
    no_run_cache: bool = False
    glob: bool = False
    ignore_errors: bool = False
    experiment: str | None = None
    record: bool = False

    @property
    def on_error(self) -> str:
        """DVC's ``on_error``: ``-k`` keeps going, ``--ignore-errors`` ignores (it wins,
        as the last of DVC's two flags sharing one destination would)."""
        if self.ignore_errors:
            return "ignore"
        return "keep-going" if self.keep_going else "fail"

    def reproduce_kwargs(self) -> dict[str, Any]:
        """The keyword arguments ``dvc repro`` gives ``Repo.reproduce``, the same names
        (``CmdRepro._common_kwargs`` and ``_repro_kwargs``)."""
        return {
            "targets": list(self.targets) or None,
            "single_item": self.single_item,
            "force": self.force,
            "dry": self.dry,
            "interactive": self.interactive,
            "pipeline": self.pipeline,
            "all_pipelines": self.all_pipelines,
            "downstream": self.downstream,
            "recursive": self.recursive,
            "force_downstream": self.force_downstream,
            "pull": self.pull,
            "allow_missing": self.allow_missing,
            "on_error": self.on_error,
            "run_cache": not self.no_run_cache,
            "no_commit": self.no_commit,
            "glob": self.glob,
        }

"""The options of one ``dvflow repro``: ``dvc repro``'s own, plus dvflow's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ReproOptions:
    """``dvc repro``'s everyday options, plus dvflow's own."""

    targets: Sequence[str] = ()
    force: bool = False
    single_item: bool = False
    downstream: bool = False
    recursive: bool = False
    all_pipelines: bool = False
    pull: bool = False
    dry: bool = False
    keep_going: bool = False
    experiment: str | None = None
    record: bool = False

"""How big and how many: the full suite's sizes, and ``--quick``'s smaller ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import Runner
from projects import Lab

GIB, MIB, KIB = 1 << 30, 1 << 20, 1 << 10


@dataclass
class Settings:
    """What every case reads: the projects, the runner, and the sizes of this run.

    Attributes:
        lab: the projects, built on first use in the suite's temporary folder.
        runner: runs and times commands in a clean environment.
        quick: ``--quick`` (the CI smoke run: the figures are not to be quoted).
        rounds: timed rounds of the cases that run a pipeline.
        rounds_fast: timed rounds of the cases that take well under a second.
        stages: stages of the many-stages pipeline.
        data_size: bytes of the large DVC-tracked file.
        small_size: bytes of the small one it is compared with.
        points: steps of the metric history.
        log_calls: ``log_metric`` calls timed to extrapolate the per-point baseline.
        lookup_runs: runs in the store of the ``dvflow runs --data`` lookup.
        warm_up: run each compared command once, untimed, before the rounds (creates
            the stores, so that no schema creation is timed, and fills the caches).
    """

    lab: Lab
    runner: Runner
    quick: bool
    rounds: int = 5
    rounds_fast: int = 10
    stages: int = 50
    data_size: int = GIB
    small_size: int = KIB
    points: int = 100_000
    log_calls: int = 2_000
    lookup_runs: int = 10_000
    warm_up: bool = True

    def warm(self, argv: list[str], cwd: Path, **env: str) -> None:
        """An untimed warm-up run of ``argv``, skipped by ``--quick``."""
        if self.warm_up:
            self.runner.setup(argv, cwd, **env)

    def __post_init__(self) -> None:
        if self.quick:
            self.rounds, self.rounds_fast = 1, 3
            self.stages = 10
            self.data_size = 64 * MIB
            self.points = 10_000
            self.log_calls = 200
            self.lookup_runs = 200
            self.warm_up = False

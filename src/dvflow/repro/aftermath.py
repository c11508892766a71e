"""What the parent run of ``dvflow repro`` gets once DVC is done: the stages a failure
left out, the pipeline's snapshot, metrics and plots, and the lineage picture."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dvflow.integrations.dvc_internals import planned_stages
from dvflow.recorder.protocol import StageOutcome, StageStatus
from dvflow.repro.stagerunner import Ending, StageRunner, is_recorded

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

    from dvflow.project import Project
    from dvflow.repro.options import ReproOptions
    from dvflow.snapshot import Snapshot
    from dvflow.snapshot.code import CodeVersion
    from dvflow.snapshot.patch import WorkingTreeDiff
    from dvflow.snapshot.results import Results


@dataclass
class Aftermath:
    """What the parent run gets after the pipeline.

    ``snapshot`` carries the code state that made the run; ``result_code`` the state the
    run left (``dvc.lock`` and the outputs DVC keeps in git rewritten).
    """

    snapshot: Snapshot | None = None
    results: Results | None = None
    lineage: dict[str, str] = field(default_factory=dict)
    result_code: CodeVersion | None = None


def planned(repo: Repo, options: ReproOptions) -> list[Stage]:
    """The stages DVC plans to visit, in its order."""
    return planned_stages(
        repo,
        options.targets,
        recursive=options.recursive,
        single_item=options.single_item,
        downstream=options.downstream,
        all_pipelines=options.all_pipelines,
        pipeline=options.pipeline,
        glob=options.glob,
    )


def pipeline_results(repo: Repo, stages: list[Stage], outcomes: dict[str, StageOutcome]) -> Results:
    """The parent run's metrics and plots: what ``dvc metrics show`` lists for the stages
    that ran or were skipped, and the top-level ``plots:``. A stage that failed or never
    ran has only last time's numbers: left out.

    The parent's metrics make pipeline runs comparable side by side in MLflow's UI;
    the stage runs keep the per-stage histories and images.
    """
    from dvflow.snapshot.results import pipeline_results as read

    current = [
        s
        for s in stages
        if s.addressing not in outcomes
        or outcomes[s.addressing].status.executed
        or outcomes[s.addressing].status is StageStatus.SKIPPED
    ]
    return read(repo, current)


def lineage(repo: Repo, stages: list[Stage], outcomes: dict[str, StageOutcome]) -> dict[str, str]:
    """The lineage picture of the planned stages (text, SVG, Mermaid) and the HTML
    report of the project's plots, as artifacts of the parent run."""
    from dvflow.repro.lineage import Node, pictures
    from dvflow.repro.report import REPORT_ARTIFACT, plots_report

    names = {stage.addressing for stage in stages}
    nodes = []
    for stage in stages:
        outcome = outcomes.get(stage.addressing)
        if outcome is not None:
            status = outcome.status
        else:
            status = StageStatus.NOT_RUN if is_recorded(stage) else StageStatus.SKIPPED
        outputs = tuple(
            (
                os.path.relpath(o.fs_path, repo.root_dir) if o.is_in_repo else str(o.def_path),
                o.hash_info.value if o.hash_info else None,
            )
            for o in stage.outs
        )
        out_hash = next((h for _, h in outputs if h), None)
        nodes.append(Node(stage.addressing, status, out_hash, outputs))
    edges = [
        (a.addressing, b.addressing)
        for a, b in repo.index.graph.edges()
        if a.addressing in names and b.addressing in names
    ]
    files = pictures(nodes, edges)
    report = plots_report(repo)
    if report is not None:
        files[REPORT_ARTIFACT] = report
    return files


def read_aftermath(
    project: Project,
    options: ReproOptions,
    runner: StageRunner,
    ending: Ending,
    code: CodeVersion | None,
    diff: WorkingTreeDiff | None,
) -> Aftermath:
    """Mark the stages a failure left out (``not-run``), and read what the parent run
    gets. ``code``/``diff``: the code state read before DVC ran (the one that made
    the run)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from dvflow.snapshot import take_snapshot
    from dvflow.snapshot.code import read_code_version

    # A fresh Repo: the lock files changed while the pipeline ran.
    with Repo(str(project.root)) as repo:
        try:
            stages = planned(repo, options)
        except DvcException:
            stages = list(runner.visited)
        if ending.failed or ending.interrupted:
            for stage in stages:
                if stage.addressing not in runner.outcomes and is_recorded(stage):
                    now = time.time()
                    outcome = StageOutcome(stage.addressing, StageStatus.NOT_RUN, now, now, [], {})
                    runner.outcomes[stage.addressing] = outcome
                    runner.recorder.record(outcome)
        result_code = None
        if project.git_root is not None:
            result_code = read_code_version(project.git_root)[0]
        return Aftermath(
            # The recorder process reads the environment itself.
            snapshot=take_snapshot(
                project,
                repo=repo,
                with_diff=True,
                with_environment=False,
                code=code,
                diff=diff,
            ),
            results=pipeline_results(repo, stages, runner.outcomes),
            lineage=lineage(repo, stages, runner.outcomes),
            result_code=result_code,
        )

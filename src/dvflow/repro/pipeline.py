"""``dvflow repro``: run a DVC pipeline and record every stage in MLflow.

DVC runs in this process (``Repo.reproduce``, with a ``repro_fn`` that wraps DVC's own
per-stage function), so its output reaches the terminal exactly as under ``dvc repro``.
Each stage command gets ``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME`` and an
``MLFLOW_RUN_CONTEXT`` naming this invocation and stage: a script's own
``mlflow.start_run()`` (or autolog) then creates a run that the recorder adopts as the
stage's run. Everything MLflow-side happens in the recorder process (recorder.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import env
from dvflow.errors import InterruptedRunError, PipelineFailedError, one_line
from dvflow.project import Project, find_project
from dvflow.recorder.link import RecorderLink
from dvflow.recorder.protocol import PipelineOutcome, StageOutcome
from dvflow.repro.capture import StderrTail
from dvflow.repro.options import ReproOptions
from dvflow.repro.stagerunner import Ending, StageRunner, is_recorded, run_dvc
from dvflow.tracking import runindex
from dvflow.tracking import schema as tags
from dvflow.tracking.store import check_reachable, display_uri, experiment_exists
from dvflow.tracking.writer import code_tags
from dvflow.workspace import Target, keep_store_out_of_git, open_session, resolve_target

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

    from dvflow.snapshot import Snapshot
    from dvflow.snapshot.results import Results

DVC_FAILURE_EXIT_CODE = 255  # what `dvc repro` returns when a stage fails


@dataclass
class ReproResult:
    """What a ``dvflow repro`` did."""

    tracking_uri: str
    experiment: str
    parent_run_id: str | None
    stages: list[StageOutcome]
    metrics: dict[str, float]
    up_to_date: bool
    previous_run_id: str | None = None
    tracking_error: str | None = None

    @property
    def ran(self) -> list[str]:
        """Addresses of the stages that ran (or were restored from DVC's run cache)."""
        return [s.address for s in self.stages if s.status in ("ran", "restored")]

    @property
    def skipped(self) -> list[str]:
        """Addresses of the stages DVC skipped because nothing changed."""
        return [s.address for s in self.stages if s.status == "skipped"]


@contextmanager
def _without(names: tuple[str, ...]) -> Iterator[None]:
    """Unset ``names`` while the pipeline runs (stage commands inherit the rest)."""
    saved = {name: os.environ.pop(name, None) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _sigterm_as_interrupt(recorder: RecorderLink) -> Iterator[None]:
    """SIGTERM ends the invocation like Ctrl-C: stage commands stopped, runs KILLED.

    The recorder process is spared: it must still close the runs.
    """

    def handler(signum: int, frame: Any) -> None:
        import psutil

        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):  # it may have ended meanwhile
                if child.pid != recorder.pid and child.ppid() != recorder.pid:
                    child.terminate()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _prepare_store(project: Project, target: Target) -> None:
    """Make sure stage scripts can write to the store without creating anything.

    A missing store or experiment is created now, before any stage script could race
    to create it (a script's mlflow.start_run() creates a missing experiment, with its
    artifacts wherever it happens to run). An existing one is opened later, by the
    recorder process, while DVC works.
    """
    check_reachable(target.tracking_uri)
    keep_store_out_of_git(project, target)
    if not experiment_exists(target.tracking_uri, target.experiment):
        open_session(target)


def _planned(repo: Repo, options: ReproOptions) -> list[Stage]:
    """The stages DVC plans to visit, in its order (for stages a failure left out)."""
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    stages = []
    if not options.all_pipelines:
        stages = collect_stages(
            repo, list(options.targets) or ["dvc.yaml"], recursive=options.recursive
        )
    if options.single_item and not options.all_pipelines:
        return stages
    return plan_repro(
        get_active_graph(repo.index.graph),
        stages,
        downstream=options.downstream and not options.all_pipelines,
    )


def _pipeline_results(
    repo: Repo, planned: list[Stage], outcomes: dict[str, StageOutcome], root: Path
) -> Results:
    """What the parent run gets: the pipeline's metrics as ``dvc metrics show`` would
    list them (the metrics files of every planned stage that ran or was skipped, and
    the top-level ``metrics:``), and the top-level ``plots:`` of every dvc.yaml (DVC's
    index). A stage that failed or never ran has only last time's numbers: left out.

    The parent's metrics make pipeline runs comparable side by side in MLflow's UI;
    the stage runs keep the per-stage histories and images.
    """
    from dvflow.snapshot.results import collect_results

    current = ("ran", "restored", "skipped")
    metric_files = [
        Path(o.fs_path)
        for s in planned
        if s.addressing not in outcomes or outcomes[s.addressing].status in current
        for o in s.outs
        if o.metric
    ]
    plot_files: list[Path] = []
    index = repo.index
    for dvcfile, paths in getattr(index, "_metrics", {}).items():
        base = Path(repo.root_dir, dvcfile).parent
        metric_files += [base / p for p in paths]
    for dvcfile, definitions in getattr(index, "_plots", {}).items():
        base = Path(repo.root_dir, dvcfile).parent
        for definition in definitions:
            names = definition.keys() if isinstance(definition, dict) else [definition]
            for name in names:
                candidate = base / str(name)
                if candidate.exists():
                    plot_files.append(candidate)
    return collect_results(metric_files, plot_files, root)


def _lineage(repo: Repo, planned: list[Stage], outcomes: dict[str, StageOutcome]) -> dict[str, str]:
    from dvflow.repro.lineage import Node, as_svg, as_text

    names = {stage.addressing for stage in planned}
    nodes = []
    for stage in planned:
        outcome = outcomes.get(stage.addressing)
        status = outcome.status if outcome else ("skipped" if not is_recorded(stage) else "not-run")
        out_hash = next((o.hash_info.value for o in stage.outs if o.hash_info), None)
        nodes.append(Node(stage.addressing, status, out_hash))
    graph = repo.index.graph
    edges = [
        (a.addressing, b.addressing)
        for a, b in graph.edges()
        if a.addressing in names and b.addressing in names
    ]
    return {"lineage.txt": as_text(nodes, edges), "lineage.svg": as_svg(nodes, edges)}


def _finish_status(failed: bool, interrupted: bool) -> str:
    return "KILLED" if interrupted else ("FAILED" if failed else "FINISHED")


@dataclass
class _Record:
    """What the parent run gets after the pipeline."""

    snapshot: Snapshot | None = None
    pipeline_results: Results | None = None
    lineage: dict[str, str] = field(default_factory=dict)


def _record_after(
    project: Project,
    options: ReproOptions,
    runner: StageRunner,
    ending: Ending,
) -> _Record:
    """Mark stages a failure left out, and read what the parent run gets."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from dvflow.snapshot import take_snapshot

    # A fresh Repo: the lock files changed while the pipeline ran.
    with Repo(str(project.root)) as repo:
        try:
            planned = _planned(repo, options)
        except DvcException:
            planned = list(runner.visited)
        if ending.failed or ending.interrupted:
            for stage in planned:
                if stage.addressing not in runner.outcomes and is_recorded(stage):
                    now = time.time()
                    outcome = StageOutcome(stage.addressing, "not-run", now, now, [], {})
                    runner.outcomes[stage.addressing] = outcome
                    runner.recorder.record(outcome)
        return _Record(
            # The recorder process reads the environment itself.
            snapshot=take_snapshot(project, repo=repo, with_diff=True, with_environment=False),
            pipeline_results=_pipeline_results(repo, planned, runner.outcomes, project.root),
            lineage=_lineage(repo, planned, runner.outcomes),
        )


def reproduce(options: ReproOptions, start: Path | None = None) -> ReproResult:
    """Run the pipeline with DVC and record it in MLflow.

    Raises:
        NotAProjectError: not inside a DVC project.
        TrackingStoreError: the store cannot be reached or created (before any stage).
        ProjectInputError: a broken ``dvc.yaml`` or an unknown target.
        PipelineFailedError: a stage failed (after every run was closed).
        InterruptedRunError: Ctrl-C or SIGTERM (after every open run ended KILLED).
    """
    from dvflow.snapshot import DvcContext
    from dvflow.snapshot.code import read_code_version

    project = find_project(start, require_dvc=True)
    target = resolve_target(project, experiment=options.experiment)
    if not options.dry:
        _prepare_store(project, target)
    code = read_code_version(project.git_root)[0] if project.git_root else None
    invocation = uuid.uuid4().hex
    base_tags = code_tags(code)
    exp_name = DvcContext.from_environ().exp_name
    if exp_name:
        base_tags[tags.DVC_EXP_NAME] = exp_name
    recorder = RecorderLink(project, target, invocation, base_tags)
    if not options.dry:
        # Let mlflow load while DVC loads and reads the pipeline (importing DVC comes
        # after this on purpose). If nothing runs, the recorder is stopped unused.
        recorder.start()
    from dvc.repo import Repo

    stage_env = {
        env.MLFLOW_TRACKING_URI: target.tracking_uri,
        env.MLFLOW_EXPERIMENT_NAME: target.experiment,
        env.DVFLOW_INVOCATION: invocation,
    }
    # A stage script must create its own run in the resolved experiment, never join a
    # run or an experiment the user's shell happened to name.
    foreign = (env.MLFLOW_RUN_ID, env.MLFLOW_EXPERIMENT_ID, env.MLFLOW_RUN_CONTEXT)
    try:
        with _without(foreign), _sigterm_as_interrupt(recorder):
            with Repo(str(project.root)) as repo, StderrTail() as tail:
                recorder.stderr_fd = tail.terminal_fd
                runner = StageRunner(repo, recorder, tail, invocation, stage_env)
                ending = run_dvc(repo, options, runner)
            recorder.stderr_fd = None  # the tee is gone: plain stderr from here on
            if options.dry:
                recorder.abort()
                return ReproResult(
                    display_uri(target.tracking_uri),
                    target.experiment,
                    None,
                    [],
                    {},
                    up_to_date=False,
                )
            nothing_ran = not (ending.failed or ending.interrupted) and all(
                o.status == "skipped" for o in runner.outcomes.values()
            )
            record = _Record()  # nothing ran: nothing for a parent run to show
            if not nothing_ran or options.record:
                record = _record_after(project, options, runner, ending)
    except BaseException as exc:
        # Whatever broke, no run of this invocation is left RUNNING, and the error the
        # user sees is the one that broke it, not a later one of the recorder's.
        killed = isinstance(exc, KeyboardInterrupt)
        with contextlib.suppress(Exception):
            recorder.finish("KILLED" if killed else "FAILED", None, None, {})
        raise
    status = _finish_status(ending.failed, ending.interrupted)
    outcome = recorder.finish(
        status,
        record.snapshot,
        record.pipeline_results,
        record.lineage,
        force_parent=options.record,
    )
    result = _result(target, outcome, nothing_ran)
    if result.parent_run_id is None and code is not None:
        previous = runindex.lookup(project.home, code.fingerprint, target.tracking_uri)
        result.previous_run_id = previous.run_id if previous else None
    elif result.parent_run_id and record.snapshot and record.snapshot.code:
        runindex.remember(
            project.home,
            record.snapshot.code.fingerprint,
            runindex.IndexedRun(
                result.parent_run_id, target.experiment, target.tracking_uri, time.time()
            ),
        )
    if ending.interrupted:
        raise InterruptedRunError()
    if ending.failed:
        recorded = (
            f"its runs ended FAILED (parent run {result.parent_run_id})"
            if result.parent_run_id
            else f"recording it failed too: {result.tracking_error}"
        )
        raise PipelineFailedError(
            f"{_explain(ending.failure)}; {recorded}. Fix the stage and run 'dvflow repro' again.",
            DVC_FAILURE_EXIT_CODE,
        )
    return result


def _explain(failure: BaseException | None) -> str:
    """DVC's error with its root cause: 'failed to reproduce 'train': <why>'."""
    if failure is None:
        return "a stage failed"
    message = one_line(failure)
    cause = failure
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if cause is not failure:
        message += f": {one_line(cause)}"
    return message.rstrip(".")


def _result(target: Target, outcome: PipelineOutcome, nothing_ran: bool) -> ReproResult:
    return ReproResult(
        tracking_uri=display_uri(target.tracking_uri),
        experiment=target.experiment,
        parent_run_id=outcome.parent_run_id,
        stages=outcome.stages,
        metrics=outcome.metrics,
        up_to_date=nothing_ran,
        tracking_error=one_line(outcome.error) if outcome.error else None,
    )

"""``dvflow repro``: run a DVC pipeline and record every stage in MLflow.

DVC runs in this process (``Repo.reproduce``, with a ``repro_fn`` that wraps DVC's own
per-stage function), so its output reaches the terminal exactly as under ``dvc repro``.
Each stage command gets ``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME`` and an
``MLFLOW_RUN_CONTEXT`` naming this invocation and stage: a script's own
``mlflow.start_run()`` (or autolog) then creates a run that the recorder adopts as the
stage's run. Everything MLflow-side happens in the recorder process
(``dvflow.recorder``).

The order matters: the recorder process is spawned first (it imports mlflow while DVC
loads), the project is checked (a broken ``dvc.yaml`` or params file creates nothing),
then the store is prepared and the recorder told to open it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import env
from dvflow.errors import (
    InterruptedRunError,
    PipelineFailedError,
    ProjectInputError,
    StoreUnreachableError,
    explain,
    one_line,
)
from dvflow.recorder.link import RecorderLink
from dvflow.recorder.protocol import PipelineOutcome, StageStatus
from dvflow.recorder.spool import SCRIPTS_DB, SPOOL_DIR, process_id, spool_dir, waiting
from dvflow.repro.aftermath import Aftermath, read_aftermath
from dvflow.repro.capture import StderrTail
from dvflow.repro.options import ReproOptions
from dvflow.repro.result import ReproResult
from dvflow.repro.stagerunner import Ending, StageRunner, run_dvc
from dvflow.tracking import runindex
from dvflow.tracking import schema as tags
from dvflow.tracking.runname import pipeline_run_name
from dvflow.tracking.store import check_reachable, display_uri
from dvflow.tracking.writer import code_tags
from dvflow.workspace import Workspace

if TYPE_CHECKING:
    from dvc.repo import Repo

    from dvflow.snapshot.code import CodeVersion

DVC_FAILURE_EXIT_CODE = 255  # what `dvc repro` returns when a stage fails


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


def _check_params(repo: Repo) -> None:
    """Read every params file of the pipeline, so that a broken one is reported before
    anything is created (DVC reads a stage's params only when it reaches the stage).

    Raises:
        ProjectInputError: DVC cannot read a params file.
    """
    from dvc.exceptions import DvcException

    from dvflow.integrations.dvc_internals import read_params_file
    from dvflow.snapshot.params import params_files

    try:
        for path in params_files(repo):
            read_params_file(repo, path)
    except DvcException as exc:
        raise ProjectInputError(f"{_explain(exc)}. Fix it and run 'dvflow repro' again.") from exc


def _base_tags(code: CodeVersion | None) -> dict[str, str]:
    from dvflow.snapshot import DvcContext

    # Whether this process still runs tells a live invocation from an abandoned one.
    found = {**code_tags(code), tags.PROCESS: process_id()}
    exp_name = DvcContext.from_environ().exp_name
    if exp_name:
        found[tags.DVC_EXP_NAME] = exp_name
    return found


def _run_name(code: CodeVersion | None) -> str:
    from dvflow.snapshot import DvcContext

    return pipeline_run_name(code, DvcContext.from_environ().exp_name)


def _go_offline(workspace: Workspace, recorder: RecorderLink, reason: str) -> str:
    """The store cannot be reached: record into the spool, say so once.

    Returns the tracking URI stage scripts get: a local store beside the spool, so that
    a script's own ``mlflow.start_run()`` neither hangs on the server nor is lost.
    """
    from dvflow.workspace import Target, open_session

    recorder.go_offline(reason)
    workspace.keep_store_out_of_git()
    folder = spool_dir(workspace.project.home)
    local = Target(f"sqlite:///{folder / SCRIPTS_DB}", workspace.experiment, folder / "artifacts")
    open_session(local)  # created now, before scripts could race to create it
    sys.stderr.write(
        f"dvflow: warning: the tracking store {display_uri(workspace.tracking_uri)} cannot be "
        f"reached ({reason}); the pipeline runs and its records wait in the spool "
        f"({SPOOL_DIR.as_posix()}/): run 'dvflow sync' once the store is back.\n"
    )
    sys.stderr.flush()
    return local.tracking_uri


def _prepare(workspace: Workspace, recorder: RecorderLink) -> str:
    """Ready the store (or the spool) before any stage runs; the URI stages get.

    Only a server that does not answer sends the records to the spool: a store that
    answers but cannot be used (another schema, refused credentials, not MLflow) is an
    error the user fixes before anything runs (exit 4).
    """
    try:
        check_reachable(workspace.tracking_uri)
    except StoreUnreachableError as exc:
        # "cannot use the MLflow tracking store URI: <reason>. Check ...": the reason.
        reason = exc.message.split(": ", 1)[-1].split(". Check ")[0]
        return _go_offline(workspace, recorder, reason)
    workspace.prepare()
    recorder.arm()
    return workspace.tracking_uri


def _expects_work(root: Path, options: ReproOptions) -> bool:
    """Whether stages will surely run: forced, or never run (no ``dvc.lock``)."""
    return options.force or not (root / "dvc.lock").exists()


def _stage_env(workspace: Workspace, invocation: str, uri: str) -> dict[str, str]:
    return {
        env.MLFLOW_TRACKING_URI: uri,
        env.MLFLOW_EXPERIMENT_NAME: workspace.experiment,
        env.DVFLOW_INVOCATION: invocation,
    }


def reproduce(options: ReproOptions, start: Path | None = None) -> ReproResult:
    """Run the pipeline with DVC and record it in MLflow.

    Raises:
        NotAProjectError: not inside a DVC project.
        ProjectInputError: a broken ``dvc.yaml`` or params file, or an unknown target
            (before anything is created).
        TrackingStoreError: the store cannot be reached or created (before any stage).
        PipelineFailedError: a stage failed (after every run was closed).
        InterruptedRunError: Ctrl-C or SIGTERM (after every open run ended KILLED).
    """
    from dvflow.snapshot.code import read_code_version

    workspace = Workspace.find(start, require_dvc=True, experiment=options.experiment)
    project = workspace.project
    invocation = uuid.uuid4().hex
    # The code state that makes this run, read before DVC touches anything.
    code, diff = (None, None)
    if project.git_root is not None:
        code, diff = read_code_version(project.git_root, with_diff=not options.dry)
    recorder = RecorderLink(workspace, invocation, _base_tags(code), _run_name(code))
    if not options.dry and _expects_work(project.root, options):
        # mlflow loads in the recorder while DVC loads here (importing DVC comes after
        # this on purpose). If nothing runs after all, the recorder is stopped unused.
        # Otherwise it starts with the first stage that runs: an up-to-date pipeline,
        # the common case of a re-run, then spares its import of mlflow.
        recorder.spawn()
    from dvc.repo import Repo

    # A stage script must create its own run in the resolved experiment, never join a
    # run or an experiment the user's shell happened to name.
    foreign = (env.MLFLOW_RUN_ID, env.MLFLOW_EXPERIMENT_ID, env.MLFLOW_RUN_CONTEXT)
    aftermath = Aftermath()  # nothing ran: nothing for a parent run to show
    try:
        with _without(foreign), _sigterm_as_interrupt(recorder):
            with Repo(str(project.root)) as repo:
                with StderrTail() as tail:
                    recorder.stderr_fd = tail.terminal_fd
                    runner = StageRunner(
                        repo, recorder, tail, invocation, _stage_env(workspace, invocation, "")
                    )

                    def begin() -> None:
                        # Before the first stage, not before DVC: DVC has read dvc.yaml
                        # and the targets by then, once.
                        _check_params(repo)
                        uri = _prepare(workspace, recorder)
                        runner.stage_env = _stage_env(workspace, invocation, uri)

                    runner.before_first = begin
                    ending = run_dvc(repo, options, runner)
                current = _current_metrics(repo, options, ending, runner)
            recorder.stderr_fd = None  # the tee is gone: plain stderr from here on
            if options.dry:
                recorder.abort()
                if ending.failed:
                    # As `dvc repro --dry` does (exit 255): a missing dependency is an error.
                    raise PipelineFailedError(
                        f"{_explain(ending.failure)}. Fix it and run 'dvflow repro' again.",
                        DVC_FAILURE_EXIT_CODE,
                    )
                return ReproResult(
                    display_uri(workspace.tracking_uri), workspace.experiment, None, [], {}, False
                )
            nothing_ran = not (ending.failed or ending.interrupted) and all(
                o.status is StageStatus.SKIPPED for o in runner.outcomes.values()
            )
            if not nothing_ran or options.record:
                aftermath = read_aftermath(project, options, runner, ending, code, diff)
    except BaseException as exc:
        # Whatever broke, no run of this invocation is left RUNNING, and the error the
        # user sees is the one that broke it, not a later one of the recorder's.
        if recorder.outcomes:
            killed = isinstance(exc, KeyboardInterrupt)
            with contextlib.suppress(Exception):
                recorder.finish("KILLED" if killed else "FAILED", None, None, {})
        else:
            recorder.abort()
        raise
    outcome = recorder.finish(
        _finish_status(ending),
        aftermath.snapshot,
        aftermath.results,
        aftermath.lineage,
        result_code=aftermath.result_code,
        force_parent=options.record,
    )
    result = _result(workspace, outcome, nothing_ran)
    result.announced = recorder.offline is not None
    if result.parent_run_id is None and not result.metrics:
        result.metrics = current
    result.waiting = sum(1 for s in waiting(project.home) if not s.in_progress)
    _index(workspace, result, code, aftermath.result_code)
    if ending.interrupted:
        if result.spooled:
            raise InterruptedRunError(_recording(result))
        raise InterruptedRunError()
    if ending.failed:
        raise PipelineFailedError(
            f"{_explain(ending.failure)}; {_recording(result)}. "
            "Fix the stage and run 'dvflow repro' again.",
            DVC_FAILURE_EXIT_CODE,
        )
    return result


def _current_metrics(
    repo: Repo, options: ReproOptions, ending: Ending, runner: StageRunner
) -> dict[str, float]:
    """An up-to-date pipeline's metrics, as ``dvc metrics show`` lists them (no run
    records them: ``--json`` reports them all the same)."""
    skipped = all(o.status is StageStatus.SKIPPED for o in runner.outcomes.values())
    if options.dry or ending.failed or ending.interrupted or not skipped:
        return {}
    from dvflow.snapshot.results import pipeline_results

    return pipeline_results(repo).metrics


def _finish_status(ending: Ending) -> str:
    return "KILLED" if ending.interrupted else ("FAILED" if ending.failed else "FINISHED")


def _index(
    workspace: Workspace,
    result: ReproResult,
    made_from: CodeVersion | None,
    left: CodeVersion | None,
) -> None:
    """Remember the run under the state it left (committing exactly that state finds
    it), or name the run that recorded the current state when nothing ran."""
    home, uri = workspace.project.home, workspace.tracking_uri
    if result.parent_run_id is None and made_from is not None:
        previous = runindex.lookup(home, made_from.fingerprint, uri)
        result.previous_run_id = previous.run_id if previous else None
    elif result.parent_run_id and left is not None:
        entry = runindex.IndexedRun(result.parent_run_id, workspace.experiment, uri, time.time())
        runindex.remember(home, left.fingerprint, entry)


def _recording(result: ReproResult) -> str:
    """What became of the record of a failed pipeline, truthfully."""
    if result.spooled:
        return (
            f"its runs wait in the spool ({result.tracking_error}): "
            "run 'dvflow sync' once the store is back"
        )
    if result.parent_run_id:
        return f"its runs ended FAILED (parent run {result.parent_run_id})"
    if result.tracking_error:
        return f"recording it failed too: {result.tracking_error}"
    return "no run was recorded: no stage ran before the failure"


def _explain(failure: BaseException | None) -> str:
    """DVC's error with its causes: 'failed to reproduce 'train': <why>'."""
    return "a stage failed" if failure is None else explain(failure)


def _result(workspace: Workspace, outcome: PipelineOutcome, nothing_ran: bool) -> ReproResult:
    return ReproResult(
        tracking_uri=display_uri(workspace.tracking_uri),
        experiment=workspace.experiment,
        parent_run_id=outcome.parent_run_id,
        stages=outcome.stages,
        metrics=outcome.metrics,
        up_to_date=nothing_ran,
        tracking_error=one_line(outcome.error) if outcome.error else None,
        warnings=outcome.warnings,
        spooled=str(outcome.spooled) if outcome.spooled else None,
    )

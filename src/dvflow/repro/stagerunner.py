"""One stage at a time: the ``repro_fn`` dvflow gives DVC's ``Repo.reproduce``.

``StageRunner`` wraps DVC's own per-stage function (``_reproduce_stage``): before a stage
it names the stage in ``MLFLOW_RUN_CONTEXT`` (through DVC's ``run_env``); as DVC starts
the stage's command, the recorder is told to create the stage's run (RUNNING), which the
command's script joins (``recorder/rendezvous.py``); after it, it hands the recorder the
stage's outcome (status, duration, exit code, stderr tail, data versions, params,
metrics and plots).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dvflow import env
from dvflow.errors import ProjectBusyError, ProjectInputError, explain
from dvflow.integrations.dvc_internals import RUN_CACHE_RESTORED_MESSAGE, reproduce_stage
from dvflow.recorder.link import RecorderLink
from dvflow.recorder.protocol import StageOutcome, StageStarted, StageStatus
from dvflow.repro.capture import StderrTail
from dvflow.repro.summary import log_stage_line
from dvflow.snapshot.redact import redact_text
from dvflow.snapshot.results import stage_results
from dvflow.tracking import schema as tags

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

    from dvflow.repro.options import ReproOptions

_EXIT = re.compile(r"exited with (-?\d+)")
_KILLED_EXIT_CODES = (-2, -15, 130, 143)
# What `dvc repro` returns when another process holds the project's lock (its generic
# error code: DVC has no code of its own for it).
DVC_LOCK_EXIT_CODE = 255


class RunCacheWatch(logging.Filter):
    """Notices DVC restoring a stage from its run cache instead of running it."""

    def __init__(self) -> None:
        super().__init__()
        self.restored = False

    def filter(self, record: logging.LogRecord) -> bool:
        if RUN_CACHE_RESTORED_MESSAGE in str(record.msg):
            self.restored = True
        return True


def _command(stage: Stage) -> str | None:
    cmd = getattr(stage, "cmd", None)
    if isinstance(cmd, list):
        cmd = " && ".join(cmd)
    return redact_text(cmd) if cmd else None


def is_recorded(stage: Stage) -> bool:
    """Stages with a command (and imports) get a run; plain ``.dvc`` files do not."""
    return bool(getattr(stage, "cmd", None)) or bool(getattr(stage, "is_import", False))


class StartingEnvironment(Mapping[str, str]):
    """The ``run_env`` DVC adds to a stage command's environment, completed when DVC
    first reads it: DVC reads it as it starts the command (``prepare_kwargs``, after the
    stage was found changed and not restored from the run cache), so that reading is
    the moment the stage starts. ``on_start`` then returns the variables it adds."""

    def __init__(self, base: dict[str, str], on_start: Callable[[], dict[str, str]]) -> None:
        self.base = base
        self.on_start = on_start
        self.resolved: dict[str, str] | None = None

    @property
    def started(self) -> bool:
        """Whether DVC started the stage's command."""
        return self.resolved is not None

    def _env(self) -> dict[str, str]:
        if self.resolved is None:
            self.resolved = {**self.base, **self.on_start()}
        return self.resolved

    def __getitem__(self, key: str) -> str:
        return self._env()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._env())

    def __len__(self) -> int:
        return len(self._env())


class StageRunner:
    """The ``repro_fn`` given to DVC: runs one stage with DVC's own function and reports
    what happened to the recorder."""

    def __init__(
        self,
        repo: Repo,
        recorder: RecorderLink,
        tail: StderrTail,
        invocation: str,
        stage_env: dict[str, str],
    ) -> None:
        self.repo = repo
        self.recorder = recorder
        self.tail = tail
        self.invocation = invocation
        self.stage_env = stage_env
        self.visited: list[Stage] = []
        self.outcomes: dict[str, StageOutcome] = {}
        self.interrupted = False
        # DVC's LockError: another process reproduces this project (nothing recorded).
        self.busy: Exception | None = None
        self.watch = RunCacheWatch()
        # The paths DVC caches, read once: what dvc.yaml and the .dvc files declare
        # does not change while the pipeline runs.
        self._cached_paths: set[str] | None = None
        # Run once, before the first stage: DVC has read the pipeline by then (a broken
        # dvc.yaml or target failed before), so checking and preparing here costs no
        # second reading of the index. Its error is re-raised by run_dvc as it is.
        self.before_first: Callable[[], None] | None = None
        self.setup_error: Exception | None = None

    def __call__(self, stage: Stage, **kwargs: Any) -> Stage | None:
        if kwargs.get("dry"):
            # Only printing the commands: nothing runs, nothing is recorded.
            return reproduce_stage()(stage, **kwargs)
        if self.setup_error is not None:
            raise self.setup_error  # --keep-going: no stage runs without its store
        if self.before_first is not None:
            begin, self.before_first = self.before_first, None
            try:
                begin()
            except Exception as exc:
                self.setup_error = exc
                raise
        self.visited.append(stage)
        # DVC adds run_env to the stage command's environment: MLflow tags every run the
        # command creates with this context, naming the invocation and the stage.
        started = time.time()

        def on_start() -> dict[str, str]:
            # The stage's run is created now, without waiting for it: a script that
            # imports mlflow finds it (recorder/rendezvous.py) and joins it.
            return self._started(stage, started) if is_recorded(stage) else {}

        kwargs["run_env"] = StartingEnvironment(
            {
                **self.stage_env,
                env.MLFLOW_RUN_CONTEXT: json.dumps(
                    {tags.INVOCATION: self.invocation, tags.DVC_STAGE: stage.addressing}
                ),
            },
            on_start,
        )
        self.tail.mark()
        self.watch.restored = False
        status, exit_code, error, ret = StageStatus.RAN, None, None, None
        try:
            ret = reproduce_stage()(stage, **kwargs)
            if not ret:
                status = StageStatus.SKIPPED
            elif self.watch.restored:
                status = StageStatus.RESTORED
        except KeyboardInterrupt:
            status, self.interrupted = StageStatus.KILLED, True
            raise
        except Exception as exc:
            if is_lock_error(exc):
                self.busy = exc
                raise
            cause = exc.__cause__ or exc
            error = str(cause)
            match = _EXIT.search(error)
            exit_code = int(match.group(1)) if match else None
            killed = exit_code in _KILLED_EXIT_CODES
            status = StageStatus.KILLED if killed else StageStatus.FAILED
            self.interrupted = self.interrupted or killed
            raise
        finally:
            if is_recorded(stage) and self.busy is None:
                with deferred_interrupts():
                    self._report(stage, status, started, exit_code, error)
        return ret

    def _started(self, stage: Stage, started: float) -> dict[str, str]:
        """Tell the recorder the stage's command starts; the variables the command gets
        to find its run."""
        from pathlib import Path

        from dvflow.repro.stepfiles import step_series

        message = StageStarted(
            address=stage.addressing,
            started=started,
            command=_command(stage),
            streams=step_series(Path(self.repo.root_dir), stage),
        )
        return self.recorder.started(message)

    def _cached(self) -> set[str]:
        from dvflow.snapshot.data import cached_paths

        if self._cached_paths is None:
            self._cached_paths = cached_paths(self.repo)
        return self._cached_paths

    def _report(
        self,
        stage: Stage,
        status: StageStatus,
        started: float,
        exit_code: int | None,
        error: str | None,
    ) -> None:
        """Hand the stage's outcome to the recorder (and its journal)."""
        from dvflow.snapshot.data import stage_versions
        from dvflow.snapshot.params import stage_params

        results = None
        if status.has_results:
            results = stage_results(self.repo, stage)
        outcome = StageOutcome(
            address=stage.addressing,
            status=status,
            started=started,
            ended=time.time(),
            versions=stage_versions(self.repo, stage, cached=self._cached()),
            params=stage_params(stage),
            results=results,
            exit_code=exit_code if status is not StageStatus.RAN else 0,
            error=redact_text(error) if error else None,
            stderr_tail=(
                redact_text(self.tail.tail())
                if status in (StageStatus.FAILED, StageStatus.KILLED)
                else None
            ),
            command=_command(stage),
            # Created as it started, if the recorder said so by now (never waited for).
            run_id=self.recorder.stage_run(stage.addressing),
        )
        self.outcomes[stage.addressing] = outcome
        self.recorder.record(outcome)
        if status is not StageStatus.SKIPPED:
            # Through DVC's logger: `-q` silences it, as it silences DVC's own lines.
            log_stage_line(outcome)


def busy_message(exc: BaseException) -> str:
    """DVC's own message for a lock held by another process, with who holds it, on one
    line: "'dvc.yaml' is busy, it is being blocked by: (PID 42): dvc repro"."""
    from dvc.lock import LockError

    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, LockError):
        seen = seen.__cause__ or seen.__context__
    lines = [line.strip() for line in str(seen or exc).splitlines() if line.strip()]
    return " ".join(lines).rstrip(".") + "."


def is_lock_error(exc: BaseException) -> bool:
    """Whether DVC failed because another process holds the project's lock."""
    from dvc.lock import LockError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, LockError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a stage's outcome is handed over: a signal just
    after a stage ended must not lose that stage's run. It is raised right after."""
    caught: list[int] = []
    names = (signal.SIGINT, signal.SIGTERM)
    previous = {n: signal.signal(n, lambda signum, frame: caught.append(signum)) for n in names}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
        for number in caught[:1]:
            held = previous[signal.Signals(number)]
            if callable(held):
                held(number, None)
            elif held == signal.SIG_DFL and number == signal.SIGINT:
                raise KeyboardInterrupt


@dataclass
class Ending:
    """How DVC's part ended."""

    failed: bool = False
    interrupted: bool = False
    failure: Exception | None = None


def run_dvc(repo: Repo, options: ReproOptions, runner: StageRunner) -> Ending:
    """Run ``Repo.reproduce`` with every option ``dvc repro`` would give it, and
    ``runner`` for each stage; say how it ended."""
    from dvc.exceptions import DvcException, ReproductionError

    ending = Ending()
    dvc_logger = logging.getLogger("dvc")
    for handler in dvc_logger.handlers:
        handler.addFilter(runner.watch)
    try:
        repo.reproduce(**options.reproduce_kwargs(), repro_fn=runner)
    except KeyboardInterrupt:
        ending.interrupted = True
    except DvcException as exc:
        if runner.setup_error is not None:
            raise runner.setup_error from None
        nothing_recorded = all(o.status is StageStatus.SKIPPED for o in runner.outcomes.values())
        if is_lock_error(exc) and nothing_recorded:
            raise ProjectBusyError(
                f"{busy_message(exc)} The project is busy: nothing was run nor recorded; "
                "run 'dvflow repro' again once the other process is done.",
                DVC_LOCK_EXIT_CODE,
            ) from exc
        if not isinstance(exc, ReproductionError) and not runner.visited:
            raise ProjectInputError(
                f"{explain(exc)}. Fix it and run 'dvflow repro' again."
            ) from exc
        ending.failed, ending.failure = True, exc
        ending.interrupted = runner.interrupted
    finally:
        for handler in dvc_logger.handlers:
            handler.removeFilter(runner.watch)
    return ending

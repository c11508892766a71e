"""The in-script API: ``dvflow.start_run()`` and friends, for a stage's own code.

The same call does the right thing wherever the script runs:

- under ``dvflow repro``: the run joins the invocation (MLflow adds the invocation's
  ``MLFLOW_RUN_CONTEXT`` tags, and dvflow adopts it as the stage's run);
- with ``MLFLOW_RUN_ID`` set: it attaches to that run;
- under ``dvc repro`` or ``dvc exp run`` (``DVC_STAGE`` set): a run named after the
  stage, with the stage's params, tags and dependency versions;
- anywhere else: a ``script`` run with git state, params files and environment.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import env
from dvflow.errors import DvflowError, DvflowWarning, NotAProjectError
from dvflow.project import Project, find_project, working_directory
from dvflow.snapshot.params import flatten
from dvflow.tracking import schema

if TYPE_CHECKING:
    import mlflow


def _project() -> Project:
    try:
        return find_project()
    except NotAProjectError:
        cwd = Path.cwd().resolve()
        return Project(root=cwd, home=cwd, git_root=None, has_dvc=False)


def _kill_aware(active: mlflow.ActiveRun) -> mlflow.ActiveRun:
    """Wrap MLflow's ActiveRun so that Ctrl-C ends the run KILLED, not FAILED."""
    import mlflow
    from mlflow.entities import RunStatus

    class ActiveRun(mlflow.ActiveRun):
        def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> bool:
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
                return False
            return bool(super().__exit__(exc_type, exc_val, exc_tb))

    return ActiveRun(active)


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
    *,
    experiment: str | None = None,
) -> mlflow.ActiveRun:
    """Start (or join) the MLflow run of this script and record its snapshot.

    Takes ``mlflow.start_run``'s arguments, in its order and with its meaning, and
    forwards them to it: a call to ``mlflow.start_run(...)`` works unchanged as
    ``dvflow.start_run(...)``. Use it as a context manager: the run ends FINISHED when
    the block succeeds, FAILED when it raises, KILLED on Ctrl-C.

    Example:
        >>> import dvflow
        >>> with dvflow.start_run() as run:             # doctest: +SKIP
        ...     lr = dvflow.params()["train"]["lr"]
        ...     dvflow.log_metrics({"acc": 0.93})
        >>> with dvflow.start_run(nested=True, log_system_metrics=True):  # doctest: +SKIP
        ...     ...

    Args:
        run_id: attach to this run (default: ``MLFLOW_RUN_ID``), as MLflow does.
        experiment_id: the experiment's id (default: the project's experiment, see
            ``experiment``).
        run_name: the run's name (default: the DVC stage's address, else the script's
            file name).
        nested: create a child of the active run, as MLflow does.
        parent_run_id: the run this one is a child of, as MLflow does.
        tags: extra tags for the run.
        description: the run's description.
        log_system_metrics: log CPU, memory and GPU metrics while the run is active
            (MLflow's own sampler; None: ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``).
        experiment: dvflow's own: the experiment's name (default: ``DVFLOW_EXPERIMENT``,
            ``MLFLOW_EXPERIMENT_NAME``, ``MLFLOW_EXPERIMENT_ID``, the config files,
            then the project folder's name).

    Raises:
        DvflowError: a run is already active and ``nested`` is not set.
    """
    import mlflow

    from dvflow.snapshot import take_snapshot
    from dvflow.tracking.store import open_client
    from dvflow.tracking.writer import record_snapshot
    from dvflow.workspace import Workspace

    parent = mlflow.active_run()
    if parent is not None:
        if not nested:
            raise DvflowError(
                f"run {parent.info.run_id} is already active. End it first, or call "
                "dvflow.start_run(nested=True) to start a child run inside it."
            )
        return _kill_aware(
            mlflow.start_run(
                experiment_id=parent.info.experiment_id,
                run_name=run_name,
                nested=True,
                tags={**(tags or {}), schema.KIND: schema.KIND_SCRIPT},
                description=description,
                log_system_metrics=log_system_metrics,
            )
        )
    project = _project()
    workspace = Workspace.of(project, experiment=experiment)
    if experiment_id is None:
        session = workspace.session()
        client, experiment_id = session.client, session.experiment_id
    else:
        # MLflow's argument names the experiment: the project's is neither needed nor
        # created.
        workspace.keep_store_out_of_git()
        client = open_client(workspace.tracking_uri, workspace.target.artifacts)
    mlflow.set_tracking_uri(workspace.tracking_uri)
    stage = os.environ.get(env.DVC_STAGE)
    attach_to = run_id or os.environ.get(env.MLFLOW_RUN_ID)
    kind = schema.KIND_STAGE if stage else schema.KIND_SCRIPT
    run_tags = dict(tags or {})
    active = mlflow.start_run(
        run_id=attach_to or None,
        experiment_id=None if attach_to else experiment_id,
        run_name=None if attach_to else (run_name or stage or _script_name()),
        nested=nested,
        parent_run_id=parent_run_id,
        tags=run_tags or None,
        description=description,
        log_system_metrics=log_system_metrics,
    )
    # Under `dvflow repro` the invocation records the stage itself, after it ends.
    recorded_by_repro = bool(os.environ.get(env.DVFLOW_INVOCATION))
    try:
        # A run that dvflow itself created (MLFLOW_RUN_ID from a parent) is recorded.
        if (
            not recorded_by_repro
            and schema.KIND not in client.get_run(active.info.run_id).data.tags
        ):
            snapshot = take_snapshot(project, stage=stage, with_outputs=False, with_diff=True)
            record_snapshot(client, active.info.run_id, snapshot, kind)
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    return _kill_aware(active)


def _script_name() -> str | None:
    """The running script's file name, to name a run started outside DVC."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).name if path else None


def _ensure_run() -> str:
    """The active run's id; outside ``with dvflow.start_run():`` one is started (and
    recorded) here, as MLflow's own logging functions do, and MLflow ends it at exit."""
    import mlflow

    active = mlflow.active_run()
    if active is None:
        active = start_run()
    return str(active.info.run_id)


def params(stage: str | None = None) -> dict[str, Any]:
    """This stage's params, nested, exactly as DVC resolves them.

    Inside a DVC stage the stage is ``DVC_STAGE`` and the params are those of
    ``dvc.api.params_show(stages=...)``; elsewhere every params file of the pipeline is
    read and merged (later files win on a shared key).

    Example:
        >>> lr = dvflow.params()["train"]["lr"]           # doctest: +SKIP
    """
    import dvc.api
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from dvflow.snapshot.params import project_params_nested

    project = find_project(require_dvc=True)
    stage = stage or os.environ.get(env.DVC_STAGE)
    try:
        if stage:
            # DVC_STAGE is an address relative to the project root (see take_snapshot).
            with working_directory(project.root):
                return dict(dvc.api.params_show(stages=stage, repo=str(project.root)))
        with Repo(str(project.root)) as repo:
            return project_params_nested(repo)
    except DvcException as exc:
        raise DvflowError(
            f"cannot read the params of {stage or 'the pipeline'}: {exc}. "
            "Check dvc.yaml and the params files."
        ) from exc


def log_metrics(
    metrics: Mapping[str, Any],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    """Log metrics in one batch, with ``mlflow.log_metrics``'s arguments.

    Where it differs from ``mlflow.log_metrics``, on purpose (a stage's results
    files are nested, and a metric that is not a number must not fail a run that
    trained for an hour):

    - nested keys are joined with dots (``{"loss": {"train": 0.1}}`` logs
      ``loss.train``); MLflow takes flat keys only;
    - a value that is not a number (a string, None, a list, a bool) is skipped with a
      ``DvflowWarning`` naming it; MLflow raises ``MlflowException`` for the whole
      batch (and logs a bool as 0 or 1);
    - a name MLflow refuses (``precision@5``, ``f1(macro)``) is logged under the name
      the recorder gives it (``precision_5``, with the tag
      ``dvflow.metric_name.precision_5`` = ``precision@5``), or kept in the artifact
      ``dvflow/metrics_overflow/`` when it cannot be mapped; MLflow raises for the batch;
    - with no active run (and no ``run_id``), a dvflow run is started and recorded
      (``start_run()``), where MLflow starts a bare one;
    - the metrics are written before it returns, whatever ``synchronous`` says (kept
      for ``mlflow.log_metrics``'s signature).

    Example:
        >>> dvflow.log_metrics({"acc": 0.93, "loss": {"train": 0.1}}, step=3)  # doctest: +SKIP
        >>> dvflow.log_metrics({"precision@5": 0.5})  # logged as precision_5  # doctest: +SKIP
    """
    import mlflow
    from mlflow.entities import Metric

    from dvflow.tracking.writer import log_metrics as write_metrics

    numbers: dict[str, float] = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            warnings.warn(
                f"metric '{key}' is not a number and was skipped", DvflowWarning, stacklevel=2
            )
            continue
        numbers[key] = float(value)
    target = run_id or _ensure_run()
    # As MLflow's own: the current time in milliseconds, step 0 by default.
    when = int(time.time() * 1000) if timestamp is None else timestamp
    write_metrics(
        mlflow.MlflowClient(),
        target,
        [Metric(key, value, when, step or 0) for key, value in numbers.items()],
    )


def log_params(values: Mapping[str, Any]) -> None:
    """Log extra params to the active run, in batches and within MLflow's limits.

    Where it differs from ``mlflow.log_params``: nested keys are joined with dots; a
    value longer than MLflow's limit, a key MLflow refuses, or a new value for a param
    the run already has goes to the artifact ``dvflow/params_overflow/`` (the run gets
    the tag ``dvflow.params.overflow``), where MLflow raises; with no active run a
    dvflow run is started and recorded.

    Example:
        >>> dvflow.log_params({"model": {"kind": "forest"}})  # doctest: +SKIP
    """
    import mlflow

    from dvflow.tracking.writer import log_tags_and_params

    run_id = _ensure_run()
    log_tags_and_params(mlflow.MlflowClient(), run_id, {}, flatten(values))


def log_artifact(path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """Upload a file or folder to the active run.

    Where it differs from ``mlflow.log_artifact``: a folder is uploaded too (what
    ``mlflow.log_artifacts`` does); with no active run a dvflow run is started and
    recorded.

    Example:
        >>> dvflow.log_artifact("plots/confusion.png", "plots")  # doctest: +SKIP
    """
    import mlflow

    _ensure_run()
    if Path(path).is_dir():
        mlflow.log_artifacts(str(path), artifact_path)
    else:
        mlflow.log_artifact(str(path), artifact_path)

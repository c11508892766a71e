"""``dvflow repro``: ``dvc repro`` with every stage recorded in MLflow."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from dvflow.cli import verbosity
from dvflow.cli.output import emit_json, json_option

# dvc repro's own options, with its short names and help (dvc/commands/repro.py).
_DVC_FLAGS = (
    (("-f", "--force"), "Reproduce even if dependencies were not changed."),
    (("-i", "--interactive"), "Ask for confirmation before reproducing each stage."),
    (("-s", "--single-item"), "Only the targets, without their upstream stages."),
    (("-p", "--pipeline"), "The whole pipeline that the targets belong to."),
    (("-P", "--all-pipelines"), "Every pipeline of the project (sub-folders included)."),
    (("-R", "--recursive"), "Targets are folders: every stage inside them."),
    (("--downstream",), "Start from the targets and go on with the stages after them."),
    (
        ("--force-downstream",),
        "Reproduce every descendant of a changed stage, even if its own deps did not change.",
    ),
    (("--pull",), "Try to pull missing data from the DVC remote."),
    (("--allow-missing",), "Skip stages with missing data but no other changes."),
    (("--dry",), "Only print the commands that would run (nothing is recorded)."),
    (("-k", "--keep-going"), "Go on with the stages that do not depend on a failed one."),
    (("--ignore-errors",), "Ignore errors from stages."),
    (("--glob",), "Targets may hold shell-style wildcards."),
    (("--no-commit",), "Do not put outputs into DVC's cache."),
    (("--no-run-cache",), "Run stage commands even if DVC's run cache has their results."),
)


def _dvc_flags(func: Any) -> Any:
    for names, help_text in reversed(_DVC_FLAGS):
        func = click.option(*names, is_flag=True, help=help_text)(func)
    return func


@click.command("repro")
@click.argument("targets", nargs=-1)
@_dvc_flags
@click.option(
    "--experiment",
    default=None,
    help="MLflow experiment (default: DVFLOW_EXPERIMENT, MLFLOW_EXPERIMENT_NAME, "
    "MLFLOW_EXPERIMENT_ID, .dvflow/config.local.yaml, .dvflow/config.yaml, the folder's name).",
)
@click.option("--record", is_flag=True, help="Record a run even when nothing needs to run.")
@json_option
def repro_command(
    targets: tuple[str, ...],
    experiment: str | None,
    record: bool,
    as_json: bool,
    **dvc_flags: bool,
) -> None:
    """Run the DVC pipeline and record every stage in MLflow.

    Takes every option of 'dvc repro', with the same meaning.
    """
    from dvflow.errors import TrackingStoreError
    from dvflow.repro.options import ReproOptions
    from dvflow.repro.pipeline import reproduce

    options = ReproOptions(targets=targets, experiment=experiment, record=record, **dvc_flags)
    if as_json:
        # DVC and the stage commands print on stdout: keep it for the JSON alone.
        with stdout_to_stderr():
            result = reproduce(options)
    else:
        result = reproduce(options)
    if as_json:
        emit_json(
            {
                "parent_run_id": result.parent_run_id,
                "experiment": result.experiment,
                "tracking_uri": result.tracking_uri,
                "up_to_date": result.up_to_date,
                "previous_run_id": result.previous_run_id,
                "stages": [
                    {
                        "stage": s.address,
                        "status": s.status,
                        "run_id": s.run_id,
                        "exit_code": s.exit_code,
                    }
                    for s in result.stages
                ],
                "metrics": result.metrics,
                "spooled": result.spooled,
                "waiting": result.waiting,
            }
        )
    elif not options.dry:
        _print_stage_table(result)
        _print_summary(result)
    for warning in [] if verbosity.is_quiet() else result.warnings:
        click.echo(f"dvflow: warning: {warning}", err=True)
    if result.spooled and not result.announced:
        click.echo(
            f"dvflow: warning: the pipeline succeeded; its records wait in the spool "
            f"({result.tracking_error}): run 'dvflow sync' once the store is back.",
            err=True,
        )
    elif result.waiting:
        click.echo(
            f"dvflow: {result.waiting} earlier invocation(s) wait in the spool: run 'dvflow sync'.",
            err=True,
        )
    if result.tracking_error and not result.spooled:
        raise TrackingStoreError(
            result.tracking_uri,
            f"the pipeline succeeded, but recording it failed: {result.tracking_error}",
        )


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _print_summary(result: object) -> None:
    from dvflow.repro.result import ReproResult

    assert isinstance(result, ReproResult)
    echo = click.echo
    echo("")
    if result.up_to_date and result.parent_run_id is None:
        echo("dvflow: everything is up to date; no run recorded (use --record to record one).")
        if result.previous_run_id:
            echo(f"dvflow: the latest run that recorded this exact state: {result.previous_run_id}")
        return
    if result.parent_run_id:
        echo(f"dvflow: recorded run {result.parent_run_id} in experiment '{result.experiment}'")
    else:
        # What the pipeline did; what became of its record is said after (stderr).
        echo("dvflow: the pipeline succeeded; it is not recorded in the store yet")
    if result.ran:
        echo(f"  ran:     {', '.join(result.ran)}")
    if result.skipped:
        echo(f"  skipped: {', '.join(result.skipped)}")
    headline = sorted(result.metrics.items())[:8]
    if headline:
        echo("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in headline))
    if result.tracking_uri.startswith(("http://", "https://")):
        echo(f"  open:    {result.tracking_uri}")
    else:
        echo("  open:    dvflow ui")


def _print_stage_table(result: object) -> None:
    """The table of the stages, as ``dvc exp show`` prints one, through DVC's console;
    metric changes are against the previous pipeline run of the same branch."""
    from dvc.ui import ui

    from dvflow.repro.result import ReproResult
    from dvflow.repro.summary import HEADERS, previous_metrics, stage_rows

    assert isinstance(result, ReproResult)
    if result.parent_run_id is None or not result.stages:
        return
    previous = previous_metrics(result.tracking_uri, result.experiment, result.parent_run_id)
    click.echo("")
    ui.table(stage_rows(result, previous), headers=HEADERS)

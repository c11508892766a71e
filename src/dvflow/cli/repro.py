"""``dvflow repro``: ``dvc repro`` with every stage recorded in MLflow."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click

from dvflow.cli.output import emit_json, json_option


@click.command("repro")
@click.argument("targets", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Reproduce even if nothing changed.")
@click.option("-s", "--single-item", is_flag=True, help="Only the targets, not their upstream.")
@click.option("--downstream", is_flag=True, help="The targets and the stages after them.")
@click.option(
    "-R", "--recursive", is_flag=True, help="Targets are folders: every pipeline inside them."
)
@click.option(
    "-P",
    "--all-pipelines",
    is_flag=True,
    help="Every pipeline of the project, dvc.yaml files in sub-folders included.",
)
@click.option("--pull", is_flag=True, help="Pull missing dependencies from the DVC remote.")
@click.option("--dry", is_flag=True, help="Only print the commands that would run.")
@click.option(
    "-k", "--keep-going", is_flag=True, help="Go on with independent stages after a failure."
)
@click.option(
    "--experiment",
    default=None,
    help="MLflow experiment (default: "
    "MLFLOW_EXPERIMENT_NAME, then .dvflow/config.yaml, then the folder's name).",
)
@click.option("--record", is_flag=True, help="Record a run even when nothing needs to run.")
@json_option
def repro_command(
    targets: tuple[str, ...],
    force: bool,
    single_item: bool,
    downstream: bool,
    recursive: bool,
    all_pipelines: bool,
    pull: bool,
    dry: bool,
    keep_going: bool,
    experiment: str | None,
    record: bool,
    as_json: bool,
) -> None:
    """Run the DVC pipeline and record every stage in MLflow."""
    from dvflow.errors import TrackingStoreError
    from dvflow.repro.options import ReproOptions
    from dvflow.repro.pipeline import reproduce

    options = ReproOptions(
        targets=targets,
        force=force,
        single_item=single_item,
        downstream=downstream,
        recursive=recursive,
        all_pipelines=all_pipelines,
        pull=pull,
        dry=dry,
        keep_going=keep_going,
        experiment=experiment,
        record=record,
    )
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
            }
        )
    elif not dry:
        _print_stage_table(result)
        _print_summary(result)
    for warning in result.warnings:
        click.echo(f"dvflow: warning: {warning}", err=True)
    if result.tracking_error:
        raise TrackingStoreError(
            result.tracking_uri,
            f"the pipeline ran, but recording it failed: {result.tracking_error}",
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
    echo(f"dvflow: recorded run {result.parent_run_id} in experiment '{result.experiment}'")
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

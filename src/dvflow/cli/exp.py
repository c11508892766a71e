"""``dvflow exp``: DVC experiments as MLflow runs."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option


@click.group("exp")
def exp_group() -> None:
    """DVC experiments as MLflow runs."""


@exp_group.command("sync")
@click.option("--experiment", default=None, help="MLflow experiment (default: as dvflow repro).")
@click.option("-n", "--num", type=int, default=None, help="Only the last N commits (default: all).")
@json_option
def sync_command(experiment: str | None, num: int | None, as_json: bool) -> None:
    """Make every DVC experiment and every commit with results one MLflow run."""
    from dvflow.experiments.sync import as_dict, sync_experiments

    result = sync_experiments(experiment=experiment, num=num)
    if as_json:
        emit_json(as_dict(result))
        return
    for run in result.runs:
        linked = f", {len(run.linked)} stage runs" if run.linked else ""
        click.echo(f"{run.action:<9} {run.name:<24} {run.state:<8} {run.run_id}{linked}")
    click.echo(
        f"dvflow: {result.count('created')} created, {result.count('updated')} updated, "
        f"{result.count('unchanged')} unchanged in experiment '{result.experiment}'"
    )

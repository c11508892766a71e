"""``dvflow reproduce RUN``: run a run's pipeline again from its exact code and data."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option


@click.command("reproduce")
@click.argument("run")
@click.option(
    "--rel-tolerance",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Relative difference a metric may have and still count as reproduced.",
)
@click.option("--experiment", default=None, help="Where a run name or id prefix is looked up.")
@json_option
def reproduce_command(
    run: str, rel_tolerance: float, experiment: str | None, as_json: bool
) -> None:
    """Run the pipeline of RUN again from its exact code and data, and compare."""
    from dvflow.cli.repro import stdout_to_stderr
    from dvflow.errors import NotReproducedError
    from dvflow.restore.reproduce import reproduce_run
    from dvflow.workspace import Workspace

    workspace = Workspace.find(require_dvc=True, experiment=experiment)
    if as_json:
        # DVC and the stage commands print on stdout: keep it for the JSON alone.
        with stdout_to_stderr():
            result = reproduce_run(workspace, run, rel_tolerance=rel_tolerance)
        emit_json(result.to_dict())
    else:
        result = reproduce_run(workspace, run, rel_tolerance=rel_tolerance)
        click.echo("")
        click.echo(f"dvflow: reproduction of run {result.original_run_id}: run {result.run_id}")
        for section, rows in (("output", result.outputs), ("metric", result.metrics)):
            for row in rows:
                mark = " " if row.ok else "*"
                click.echo(
                    f" {mark} {section:6} {row.name}: {row.verdict}"
                    + ("" if row.ok else f" ({row.original} -> {row.reproduced})")
                )
        verdict = "reproduced" if result.reproduced else "did NOT reproduce"
        click.echo(f"dvflow: {verdict}")
    if not result.reproduced:
        changed = [r.name for r in (*result.outputs, *result.metrics) if not r.ok]
        raise NotReproducedError(
            f"run {result.original_run_id} did not reproduce: {', '.join(changed[:5])} "
            f"differ (new run {result.run_id}). Make the stages deterministic (seeds), "
            "or allow a difference with --rel-tolerance."
        )

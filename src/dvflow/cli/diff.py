"""``dvflow diff``: what differs between two runs, as ``dvc params diff`` shows it."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option


@click.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--experiment", default=None, help="The experiment (default: the project's).")
@click.option(
    "-a",
    "--all/--only-changed",
    "show_all",
    default=False,
    help="Show what did not change too (default: only what changed).",
)
@click.option("--md", "markdown", is_flag=True, help="Markdown tables (for CI comments).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV tables.")
@json_option
def diff_command(
    a: str,
    b: str,
    experiment: str | None,
    show_all: bool,
    markdown: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Show what differs between runs A and B: code, params, data, environment,
    metrics (each a run id, prefix or name, a git revision, or a DVC experiment)."""
    from dvflow.restore.difference import diff_runs, format_difference
    from dvflow.workspace import Workspace

    if markdown and as_csv:
        raise click.UsageError("--md and --csv are exclusive: choose one.")
    difference = diff_runs(Workspace.find(experiment=experiment), a, b, show_all=show_all)
    if as_json:
        emit_json(difference.to_dict())
        return
    text = format_difference(difference, "md" if markdown else "csv" if as_csv else "plain")
    if text:
        click.echo(text, nl=False)
    else:
        click.echo("no difference.", err=True)

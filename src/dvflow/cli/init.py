"""``dvflow init``: create a new project, or adopt an existing folder with ``--here``."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from dvflow.cli.output import emit_json, json_option

_LISTED = 8  # file names shown per line before "and N more"


@click.command("init")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option(
    "--here",
    is_flag=True,
    help="Adopt an existing folder (DIRECTORY, default: the current one): add only what "
    "is missing, overwrite nothing, commit nothing.",
)
@json_option
def init_command(directory: Path | None, here: bool, as_json: bool) -> None:
    """Create a new dvflow project in DIRECTORY, or adopt an existing one with --here."""
    from dvflow.apps.scaffold import RAW_DATA, create_project

    if directory is None and not here:
        raise click.UsageError(
            "name a new folder (dvflow init DIRECTORY), or adopt this one with --here."
        )

    def progress(line: str) -> None:
        # stderr: with --json, stdout carries the JSON alone.
        click.echo(f"dvflow: {line}", err=True)

    report = create_project(directory or Path.cwd(), here=here, progress=progress)
    if as_json:
        emit_json(report.to_dict())
        return

    echo = click.echo
    if report.here and not report.git_add:  # nothing was created, updated or initialised
        echo(f"Nothing to add: {report.path} already has what dvflow init adds")
        echo(f"  kept:    {len(report.kept)} files, e.g. {_names(report.kept)}")
        for note in report.notes:
            echo(f"  note:    {note}")
        return
    if report.here:
        echo(f"Adopted {report.path} as dvflow project {report.name}")
    else:
        echo(f"Created dvflow project {report.name} in {report.path}")
    counts = f"{len(report.created)} created, {len(report.kept)} kept"
    if report.updated:
        counts += f", {len(report.updated)} updated"
    echo(f"  files:   {counts}")
    if report.here and report.kept:
        echo(f"  kept:    {_names(report.kept)}")
    if report.updated:
        echo(f"  updated: {_names(report.updated)} (missing ignore patterns appended)")
    if report.skipped:
        reasons = ["the project has its own dvc.yaml"] if report.pipeline_kept else []
        if "requirements.txt" in report.skipped:
            reasons.append("it declares its own dependencies")
        why = f" ({'; '.join(reasons)})" if reasons else ""
        echo(f"  skipped: {len(report.skipped)} template files{why}")
    git = "initialised (branch main)" if report.git_initialised else "existing repository"
    if report.commit:
        git += f"; first commit {report.commit[:7]}"
    echo(f"  git:     {git}")
    echo(f"  dvc:     {'initialised' if report.dvc_initialised else 'existing project'}")
    if report.dataset_added:
        echo(f"  data:    {RAW_DATA} tracked with dvc add")
    if report.pipeline_kept:
        echo("  pipeline: your dvc.yaml was kept; no starter data set was added")
    for note in report.notes:
        echo(f"  note:    {note}")

    echo("")
    echo("Next steps:")
    if directory is not None and report.path != Path.cwd().resolve():
        echo(f"  cd {shlex.quote(str(directory))}")
    if report.git_add:
        echo(f"  git add {' '.join(shlex.quote(p) for p in report.git_add)}")
        echo("  git commit -m 'Adopt dvflow'")
    echo("  dvflow repro    # run the pipeline; every stage becomes an MLflow run")
    echo("  dvflow ui       # browse and compare the runs")


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:_LISTED])
    return shown if len(paths) <= _LISTED else f"{shown} and {len(paths) - _LISTED} more"

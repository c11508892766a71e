"""``dvflow demo``: an example project, run twice, the two runs compared."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

from dvflow.cli.output import emit_json, json_option


@click.command("demo")
@click.argument("directory", default="demo", type=click.Path(path_type=Path))
@json_option
def demo_command(directory: Path, as_json: bool) -> None:
    """Create an example project in DIRECTORY (default ./demo), run its pipeline, change a
    parameter, run it again, and compare the two runs.

    If DIRECTORY is a previous demo, it is left as it is and this one runs in DIRECTORY-2
    (or -3...)."""
    from dvflow.apps.demo import run_demo
    from dvflow.apps.ui import DEFAULT_PORT, HOST
    from dvflow.tracking.compare import format_table

    def say(line: str) -> None:
        click.echo(f"dvflow: {line}", err=True)

    if as_json:
        from dvflow.cli.repro import stdout_to_stderr

        with stdout_to_stderr():
            result = run_demo(directory, progress=say)
        emit_json(result.to_dict())
        return
    result = run_demo(directory, progress=say)
    shown = shlex.quote(os.path.relpath(result.path))
    click.echo("")
    if result.previous is not None:
        click.echo(f"{result.previous} holds a previous demo: it was left as it is.")
    click.echo(f"The two runs of {result.path}, side by side (* marks what changed):")
    click.echo("")
    click.echo(format_table(result.comparison))
    click.echo("Open them in MLflow's UI:")
    click.echo(f"  cd {shown} && dvflow ui      # then http://{HOST}:{DEFAULT_PORT}")
    click.echo("Or look at what DVC knows:")
    click.echo(f"  cd {shown} && dvc metrics diff HEAD~1 && dvc params diff HEAD~1")

"""``dvflow ui``: open MLflow's UI on the project's runs."""

from __future__ import annotations

import click

from dvflow.apps.ui import DEFAULT_PORT
from dvflow.cli.output import emit_json, json_option


@click.command("ui")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1.")
@json_option
def ui_command(port: int, as_json: bool) -> None:
    """Start MLflow's UI on the project's tracking store (on 127.0.0.1)."""
    from dvflow.apps.ui import plan_ui, serve, shown_command
    from dvflow.errors import DvflowError

    plan = plan_ui(port, check_port=not as_json)
    if as_json:
        emit_json(
            {
                "tracking_uri": plan.tracking_uri,
                "url": plan.url,
                "command": shown_command(plan),
                "environment": plan.environment,
            }
        )
        return
    if plan.command is None:
        click.echo(f"dvflow: runs are on the tracking server; open {plan.url}")
        return
    click.echo(f"dvflow: starting MLflow's UI for {plan.tracking_uri}", err=True)

    def ready() -> None:
        click.echo(f"dvflow: open {plan.url} (Ctrl-C to stop)")

    code = serve(plan, on_ready=ready)
    if code not in (0, 130, -2):
        raise DvflowError(
            f"MLflow's UI exited with code {code}; run 'dvflow ui --port {port}' again, "
            "or with --verbose to see why."
        )

"""``dvflow config [--local] [--unset] KEY [VALUE]``: read or write a setting, as
``dvc config`` does."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option


@click.command("config")
@click.argument("key")
@click.argument("value", required=False)
@click.option(
    "--local",
    is_flag=True,
    help="Use .dvflow/config.local.yaml (git-ignored: per-user settings, tokens).",
)
@click.option("-u", "--unset", is_flag=True, help="Remove the setting.")
@json_option
def config_command(key: str, value: str | None, local: bool, unset: bool, as_json: bool) -> None:
    """Read or write a setting of .dvflow/config.yaml (or, with --local, of the
    git-ignored .dvflow/config.local.yaml).

    Settings: tracking_uri, experiment.
    """
    from dvflow.config import config_path, configure
    from dvflow.errors import ConfigError
    from dvflow.project import find_project

    if unset and value is not None:
        raise ConfigError("give either a VALUE or --unset, not both.")
    root = find_project().home
    result = configure(root, key, value, local=local, unset=unset)
    if as_json:
        emit_json({"key": key, "value": result, "file": str(config_path(root, local=local))})
    elif value is None and not unset:
        click.echo(result)

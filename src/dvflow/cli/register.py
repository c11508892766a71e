"""``dvflow register PATH --name NAME``: a DVC-tracked model as an MLflow model version;
``dvflow registry fetch models:/NAME/1``: its bytes back, through DVC."""

from __future__ import annotations

from pathlib import Path

import click

from dvflow.cli.output import emit_json, json_option


@click.command("register")
@click.argument("path")
@click.option("--name", required=True, help="The registered model's name.")
@click.option("--run", default=None, help="The run that produced it (default: found by hash).")
@click.option("--alias", default=None, help="Point this alias at the new version.")
@click.option(
    "--reference", is_flag=True, help="Store no copy: the version points at the DVC remote."
)
@click.option(
    "--force", is_flag=True, help="Register even if a teammate could not rebuild it (tagged)."
)
@click.option("--experiment", default=None, help="Where the run is looked up.")
@json_option
def register_command(
    path: str,
    name: str,
    run: str | None,
    alias: str | None,
    reference: bool,
    force: bool,
    experiment: str | None,
    as_json: bool,
) -> None:
    """Register the DVC-tracked model PATH (or a dvc.yaml artifact name) as a version."""
    from dvflow.registry.publication import register_model
    from dvflow.workspace import Workspace

    done = register_model(
        Workspace.find(require_dvc=True, experiment=experiment),
        path,
        name,
        run=run,
        alias=alias,
        reference=reference,
        force=force,
    )
    if as_json:
        emit_json(done.to_dict())
        return
    click.echo(f"dvflow: registered {done.model.path} as {done.uri} (run {done.run_id})")
    click.echo(f"  source: {done.source}")
    click.echo(f"  dvc:    {done.model.hash}, commit {(done.commit or '-')[:12]}")
    if done.alias:
        click.echo(f"  alias:  models:/{done.name}@{done.alias}")
    for gap in done.forced:
        click.echo(f"  forced: {gap}", err=True)


@click.group("registry")
def registry_group() -> None:
    """Registered models and their DVC-tracked bytes."""


@registry_group.command("fetch")
@click.argument("uri")
@click.option(
    "--out",
    "into",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The folder to write it to (default: ./NAME-vVERSION); new or empty.",
)
@json_option
def fetch_command(uri: str, into: Path | None, as_json: bool) -> None:
    """Fetch a model version (models:/NAME/VERSION or models:/NAME@ALIAS) through DVC."""
    from dvflow.registry.fetch import fetch_model
    from dvflow.workspace import Workspace

    fetched = fetch_model(Workspace.find(require_dvc=True), uri, into)
    if as_json:
        emit_json(fetched.to_dict())
        return
    click.echo(
        f"dvflow: {uri} ({fetched.path}, {fetched.hash}) fetched into {fetched.folder}: "
        f"{fetched.files} file(s), verified"
    )

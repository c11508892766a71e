"""``dvflow show``: one run's lineage, and whether it can be restored here."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option


@click.command("show")
@click.argument("run")
@click.option("--experiment", default=None, help="The experiment (default: the project's).")
@click.option(
    "--no-data-check", is_flag=True, help="Do not ask DVC's cache and remote for the data."
)
@json_option
def show_command(run: str, experiment: str | None, no_data_check: bool, as_json: bool) -> None:
    """Show a run's code, params, data, metrics, artifacts and stage runs, and whether
    it can be restored here (RUN: an id, a unique prefix of one, or a name)."""
    from dvflow.restore.lineage import run_lineage
    from dvflow.workspace import Workspace

    lineage = run_lineage(Workspace.find(experiment=experiment), run, check_data=not no_data_check)
    if as_json:
        emit_json(lineage.to_dict())
        return
    info, code, restore = lineage.run, lineage.code, lineage.restore
    click.echo(f"run       {info.run_id}  {info.name}  [{info.kind or '-'}, {info.status}]")
    if info.stage:
        click.echo(f"stage     {info.stage}")
    state = "dirty" if code["dirty"] else "clean"
    click.echo(
        f"code      {code['commit'] or '(no commit)'} on {code['branch'] or '(detached)'} [{state}]"
    )
    click.echo(f"          fingerprint {code['fingerprint'] or '-'}")
    if code["result_fingerprint"]:
        click.echo(f"          left        {code['result_fingerprint']}")
    for path, value in sorted(lineage.code_files.items()):
        click.echo(f"  file    {path}  {value}")
    click.echo(f"params    {len(lineage.params)}")
    for key, value in sorted(lineage.params.items()):
        click.echo(f"  {key} = {value}")
    click.echo(f"data      {len(lineage.data)}")
    for v in lineage.data:
        click.echo(f"  {v.role:3} {v.path}  {v.hash}  ({v.where})")
    click.echo(f"metrics   {len(lineage.metrics)}")
    for key, number in sorted(lineage.metrics.items()):
        click.echo(f"  {key} = {number:.6g}")
    click.echo(f"artifacts {len(lineage.artifacts)}")
    for path in lineage.artifacts:
        click.echo(f"  {path}")
    if lineage.stages:
        click.echo(f"stages    {len(lineage.stages)}")
        for s in lineage.stages:
            click.echo(f"  {s.run_id[:12]}  {s.stage or s.name}  {s.status}")
    verdict = "yes" if restore.restorable else "no"
    click.echo(f"restorable here: {verdict}")
    present = {True: "present", False: "NOT in this repository", None: "not recorded"}
    click.echo(f"  commit  {present[restore.commit_present]}")
    if restore.missing_data:
        click.echo(f"  data    not in cache nor remote: {', '.join(restore.missing_data)}")
    if restore.unknown_data:
        click.echo(f"  data    remote not reachable for: {', '.join(restore.unknown_data)}")
    if restore.patch_complete is False:
        left_out = ", ".join(restore.omitted_files) or "no git.diff recorded"
        click.echo(f"  patch   incomplete: {left_out}")

"""``dvflow snapshot``: show what a run made now would record."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option


@click.command("snapshot")
@click.option("--stage", default=None, help="Only this stage's data and params.")
@json_option
def snapshot_command(stage: str | None, as_json: bool) -> None:
    """Show the code, data, params and environment a run would record now."""
    from dvflow.project import find_project
    from dvflow.snapshot import take_snapshot
    from dvflow.snapshot.redact import redact_data

    snap = take_snapshot(find_project(), stage=stage)
    # Shown as it would be recorded: without credentials.
    params = redact_data(snap.params)
    if as_json:
        emit_json(redact_data(snap.to_dict()))
        return
    code = snap.code
    if code:
        state = "dirty" if code.dirty else "clean"
        click.echo(
            f"code     {code.commit or '(no commit)'} on {code.branch or '(detached)'}"
            f" [{state}] fingerprint {code.fingerprint[:12]}"
        )
    env = snap.environment
    click.echo(f"python   {env.python} on {env.platform}, {len(env.packages)} packages")
    click.echo(f"params   {len(params)}")
    for key, value in sorted(params.items()):
        click.echo(f"  {key} = {value}")
    click.echo(f"data     {len(snap.data)}")
    for v in snap.data:
        click.echo(f"  {v.role:3} {v.path}  {v.hash or '(not recorded)'}")

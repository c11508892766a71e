"""``dvflow sync``: upload the records that wait in the spool; ``--status`` lists them."""

from __future__ import annotations

import time
from typing import Any

import click

from dvflow.cli.output import emit_json, json_option


@click.command("sync")
@click.option("--status", "status_only", is_flag=True, help="Only list what waits; upload nothing.")
@json_option
def sync_command(status_only: bool, as_json: bool) -> None:
    """Upload the runs spooled while the tracking store could not be written."""
    from dvflow.workspace import Workspace

    workspace = Workspace.find()
    if status_only:
        from dvflow.recorder.spool import waiting

        spooled = waiting(workspace.project.home)
        rows: list[dict[str, Any]] = [
            {
                "invocation": s.invocation,
                "experiment": s.start.experiment,
                "started": s.start.started_at,
                "stages": len(s.stages),
                "finished": s.finish.status if s.finish else None,
                "in_progress": s.in_progress,
                "journal": str(s.path),
            }
            for s in spooled
        ]
        if as_json:
            emit_json(rows)
            return
        if not rows:
            click.echo("dvflow: nothing waits in the spool.")
            return
        click.echo(f"dvflow: {len(rows)} invocation(s) wait in the spool:")
        for row in rows:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started"]))
            state = "in progress" if row["in_progress"] else (row["finished"] or "cut short")
            click.echo(
                f"  {row['invocation']}  {when}  experiment '{row['experiment']}'  "
                f"{row['stages']} stage(s)  {state}"
            )
        return
    from dvflow.recorder.replay import sync_spool

    if as_json:
        from dvflow.cli.repro import stdout_to_stderr

        # MLflow prints each run's link on stdout as a server's run ends: keep stdout
        # for the JSON alone.
        with stdout_to_stderr():
            report = sync_spool(workspace)
    else:
        report = sync_spool(workspace)
    if as_json:
        emit_json(
            {
                "tracking_uri": report.tracking_uri,
                "synced": [
                    {"invocation": s.invocation, "parent_run_id": s.parent_run_id, "runs": s.runs}
                    for s in report.synced
                ],
                "in_progress": report.in_progress,
                "abandoned": report.abandoned,
            }
        )
        return
    for synced in report.synced:
        click.echo(
            f"dvflow: synced invocation {synced.invocation}: run {synced.parent_run_id} "
            f"({len(synced.runs)} stage run(s)) to {report.tracking_uri}"
        )
        for warning in synced.warnings:
            click.echo(f"dvflow: warning: {warning}", err=True)
    for invocation in report.in_progress:
        click.echo(f"dvflow: invocation {invocation} is still running: left for later")
    if report.abandoned:
        click.echo(
            f"dvflow: closed {len(report.abandoned)} run(s) left RUNNING by a killed dvflow "
            "(KILLED, dvflow.abandoned=true)"
        )
    if not (report.synced or report.in_progress or report.abandoned):
        click.echo("dvflow: nothing waits in the spool.")

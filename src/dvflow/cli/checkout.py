"""``dvflow checkout RUN``: restore a run's exact code and data, and verify them."""

from __future__ import annotations

from pathlib import Path

import click

from dvflow.cli.output import emit_json, json_option


@click.command("checkout")
@click.argument("run")
@click.option(
    "--worktree",
    "into",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The new worktree's folder (default: ../<project>-run-<id>); new or empty.",
)
@click.option("--in-place", is_flag=True, help="Check out in this working tree; it must be clean.")
@click.option("--experiment", default=None, help="Where a run name or id prefix is looked up.")
@json_option
def checkout_command(
    run: str, into: Path | None, in_place: bool, experiment: str | None, as_json: bool
) -> None:
    """Restore the code and data of RUN (id, id prefix or name), and verify them."""
    from dvflow.errors import RestoreError
    from dvflow.restore.checkout import checkout_run
    from dvflow.workspace import Workspace

    if into is not None and in_place:
        raise click.UsageError("--worktree and --in-place exclude each other.")
    result = checkout_run(
        Workspace.find(require_dvc=True, experiment=experiment), run, into=into, in_place=in_place
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        state = "with its uncommitted changes" if result.patched else "clean"
        click.echo(f"dvflow: run {result.run_id} restored into {result.folder}")
        click.echo(f"  code:  {result.commit[:12]} ({state}), fingerprint {result.fingerprint}")
        if result.locks:
            click.echo(f"  lock:  {', '.join(result.locks)} as the run left it")
        restored = sum(check.ok for check in result.data)
        click.echo(f"  data:  {restored} of {len(result.data)} path(s) restored and verified")
        for problem in result.problems:
            click.echo(f"  not restored: {problem}", err=True)
    if not result.ok:
        raise RestoreError(
            f"run {result.run_id} was restored into {result.folder} only in part: "
            f"{len(result.problems)} problem(s) listed above."
        )

"""``dvflow runs``: the table of recorded runs, newest first."""

from __future__ import annotations

import time

import click

from dvflow.cli.output import emit_json, json_option

_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
_KINDS = ("pipeline", "stage", "script")
# Metric columns shown in the table (JSON has every metric): the most common ones.
_METRIC_COLUMNS = 3


def _metric_names(rows: list[dict[str, object]]) -> list[str]:
    counts: dict[str, int] = {}
    for row in rows:
        for name in row["metrics"]:  # type: ignore[attr-defined]
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda n: (-counts[n], n))[:_METRIC_COLUMNS]


def format_runs(rows: list[dict[str, object]]) -> str:
    """The table: id, name, kind, status, commit (``*`` when made from a dirty tree),
    start time, key metrics."""
    names = _metric_names(rows)
    headers = ["run", "name", "kind", "status", "commit", "started", *names]
    lines = [headers]
    for row in rows:
        commit = str(row["commit"] or "-")[:8] + ("*" if row["dirty"] else "")
        started = time.strftime(
            "%Y-%m-%d %H:%M",
            time.localtime(int(row["start_time"]) / 1000),  # type: ignore[call-overload]
        )
        metrics: dict[str, float] = row["metrics"]  # type: ignore[assignment]
        lines.append(
            [
                str(row["run_id"])[:12],
                str(row["name"]),
                str(row["kind"] or "-"),
                str(row["status"]),
                commit,
                started,
                *(f"{metrics[n]:.6g}" if n in metrics else "-" for n in names),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


@click.command("runs")
@click.option("--experiment", default=None, help="The experiment (default: the project's).")
@click.option("--stage", default=None, help="Only runs of this DVC stage.")
@click.option(
    "--data",
    default=None,
    metavar="PATH[@HASH]",
    help="Only runs that used or produced PATH (at the DVC hash HASH, or a prefix of it).",
)
@click.option("--commit", default=None, metavar="REV", help="Only runs made at this commit.")
@click.option(
    "--status", type=click.Choice(_STATUSES, case_sensitive=False), help="Only runs ended so."
)
@click.option("--kind", type=click.Choice(_KINDS), help="Only pipeline, stage or script runs.")
@click.option("--limit", default=20, show_default=True, help="At most this many runs.")
@json_option
def runs_command(
    experiment: str | None,
    stage: str | None,
    data: str | None,
    commit: str | None,
    status: str | None,
    kind: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List recorded runs, newest first."""
    from dvflow.restore.listing import list_runs
    from dvflow.workspace import Workspace

    found = list_runs(
        Workspace.find(experiment=experiment),
        stage=stage,
        data=data,
        commit=commit,
        status=status,
        kind=kind,
        limit=limit,
    )
    rows = [run.to_dict() for run in found]
    if as_json:
        emit_json(rows)
    elif not rows:
        click.echo("no runs match.", err=True)
    else:
        click.echo(format_runs(rows))

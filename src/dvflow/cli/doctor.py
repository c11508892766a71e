"""``dvflow doctor``: check the project against the guide's practices."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option
from dvflow.errors import DvflowError

_MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


class ChecksFailedError(DvflowError):
    """At least one doctor check failed."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"{len(names)} check(s) failed: {', '.join(names)}. Fix what each one says "
            "(some with 'dvflow doctor --fix'), then run 'dvflow doctor' again."
        )


@click.command("doctor")
@click.option("--fix", is_flag=True, help="Repair what is safe (ignore files, pins).")
@click.option("--versions/--no-versions", default=True, help="Show the versions dvc doctor shows.")
@json_option
def doctor_command(fix: bool, versions: bool, as_json: bool) -> None:
    """Check the project against the guide's practices; exit 1 when a check fails."""
    from dvflow.doctor import run_doctor

    report = run_doctor(fix=fix)
    if as_json:
        emit_json(report.to_dict())
    else:
        echo = click.echo
        if versions:
            echo(report.versions.rstrip())
            echo("")
        for result in report.results:
            echo(f"[{_MARK[result.status]}] {result.name}: {result.summary}")
            for change in result.fixed:
                echo(f"       fixed: {change}")
            for p in result.problems:
                where = f" ({p.location})" if p.location else ""
                label = "note" if p.severity == "info" else p.severity
                echo(f"       {label}: {p.message}{where}")
                if p.fix and p.severity != "info":
                    echo(f"         fix: {p.fix}")
        counts = report.to_dict()["summary"]
        echo(f"\n{counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed")
    if report.failed:
        raise ChecksFailedError([r.name for r in report.failed])

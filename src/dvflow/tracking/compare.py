"""Comparing recorded runs side by side: params, data versions and metrics.

Reads only what dvflow wrote (the tag schema, params and metrics of the runs), so it
works on any store and any pair of runs, pipeline or stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dvflow.tracking import schema as tags

if TYPE_CHECKING:
    from mlflow import MlflowClient

SECTIONS = ("params", "data", "metrics")
_DATA_PREFIXES = (tags.DVC_OUT_PREFIX, tags.DVC_DEP_PREFIX)


@dataclass(frozen=True)
class Row:
    """One compared key: its value in each run, and whether they differ."""

    section: str
    key: str
    values: list[str | None]

    @property
    def changed(self) -> bool:
        """Whether the runs disagree on this key."""
        return len(set(self.values)) > 1


@dataclass
class Comparison:
    """Runs side by side."""

    run_ids: list[str]
    names: list[str]
    rows: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "runs": [
                {"run_id": r, "name": n} for r, n in zip(self.run_ids, self.names, strict=True)
            ],
            "rows": [
                {"section": r.section, "key": r.key, "values": r.values, "changed": r.changed}
                for r in self.rows
            ],
        }


def _data(run_tags: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in run_tags.items():
        for prefix in _DATA_PREFIXES:
            if key.startswith(prefix):
                found.setdefault(key[len(prefix) :], value)
    return found


def _metric(value: float) -> str:
    return f"{value:.6g}"


def compare_runs(client: MlflowClient, run_ids: list[str]) -> Comparison:
    """Compare the params, data versions (DVC hashes) and metrics of ``run_ids``."""
    runs = [client.get_run(run_id) for run_id in run_ids]
    comparison = Comparison(run_ids, [run.info.run_name or run.info.run_id for run in runs])
    per_section: dict[str, list[dict[str, str]]] = {
        "params": [dict(run.data.params) for run in runs],
        "data": [_data(run.data.tags) for run in runs],
        "metrics": [{k: _metric(v) for k, v in run.data.metrics.items()} for run in runs],
    }
    for section in SECTIONS:
        sides = per_section[section]
        for key in sorted(set().union(*sides)):
            comparison.rows.append(Row(section, key, [side.get(key) for side in sides]))
    return comparison


def format_table(comparison: Comparison, hash_width: int = 10) -> str:
    """A plain-text table: one column per run, ``*`` marks the rows that differ."""
    headers = ["", *comparison.names]
    lines: list[list[str]] = []
    for section in SECTIONS:
        rows = [r for r in comparison.rows if r.section == section]
        if not rows:
            continue
        lines.append([f"[{section}]", *[""] * len(comparison.names)])
        for row in rows:
            shown = [
                "-" if v is None else (v[:hash_width] if section == "data" else v)
                for v in row.values
            ]
            mark = "*" if row.changed else " "
            lines.append([f"{mark} {row.key}", *shown])
    widths = [max(len(line[i]) for line in [headers, *lines]) for i in range(len(headers))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(headers, widths, strict=True)).rstrip()]
    text += [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    return "\n".join(text) + "\n"

"""Comparing recorded runs side by side: code, data versions, params and metrics.

Reads only what dvflow wrote (the tag schema, params and metrics of the runs), so it
works on any store and any pair of runs, pipeline or stage.

A ``dvc.dep.<path>`` or ``dvc.out.<path>`` tag is data when DVC tracks the path as
data: its hash is a folder's (``.dir``), or it is the output of a stage (a ``.dvc``
file's data is the output of that file's stage) in any of the compared runs. Any
other dependency is code: the source files the stages run, shown with the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dvflow.tracking import schema as tags

if TYPE_CHECKING:
    from mlflow import MlflowClient

SECTIONS = ("code", "data", "params", "metrics")
COMMIT_KEY = "git commit"
_DIR_HASH_SUFFIX = ".dir"
_HASHES = {"code", "data"}  # sections whose values are shortened like git's


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


def _tagged(run_tags: dict[str, str], prefix: str) -> dict[str, str]:
    return {k[len(prefix) :]: v for k, v in run_tags.items() if k.startswith(prefix)}


def split_code_and_data(
    runs_tags: list[dict[str, str]], tracked: set[str] | None = None
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Each run's code versions and data versions, by path.

    Code is every dependency that is not DVC-tracked data, plus the git commit.
    ``tracked`` names the DVC-tracked paths where the runs say so (their dataset
    inputs); an output DVC leaves to git (a metrics file) is then neither code nor
    data: its numbers are in the metrics. Without it, the rule above decides.

    >>> code, data = split_code_and_data([{
    ...     "mlflow.source.git.commit": "8f3a", "dvc.dep.src/train.py": "11",
    ...     "dvc.dep.data/raw.csv": "22", "dvc.out.data/raw.csv": "22",
    ...     "dvc.dep.images": "33.dir"}])
    >>> code
    [{'git commit': '8f3a', 'src/train.py': '11'}]
    >>> data
    [{'data/raw.csv': '22', 'images': '33.dir'}]
    """
    outs = [_tagged(run_tags, tags.DVC_OUT_PREFIX) for run_tags in runs_tags]
    if tracked is not None:
        outs = [{p: v for p, v in run_outs.items() if p in tracked} for run_outs in outs]
    data_paths = tracked if tracked is not None else {p for run_outs in outs for p in run_outs}
    codes: list[dict[str, str]] = []
    datas: list[dict[str, str]] = []
    for run_tags, run_outs in zip(runs_tags, outs, strict=True):
        code: dict[str, str] = {}
        if tags.GIT_COMMIT in run_tags:
            code[COMMIT_KEY] = run_tags[tags.GIT_COMMIT]
        data = dict(run_outs)
        for path, value in _tagged(run_tags, tags.DVC_DEP_PREFIX).items():
            if path in data_paths or (tracked is None and value.endswith(_DIR_HASH_SUFFIX)):
                data.setdefault(path, value)
            else:
                code[path] = value
        codes.append(dict(sorted(code.items(), key=lambda item: item[0] != COMMIT_KEY)))
        datas.append(data)
    return codes, datas


def _metric(value: float) -> str:
    return f"{value:.6g}"


def compare_runs(client: MlflowClient, run_ids: list[str]) -> Comparison:
    """Compare the code (commit and source files), data versions (DVC hashes), params
    and metrics of ``run_ids``."""
    runs = [client.get_run(run_id) for run_id in run_ids]
    comparison = Comparison(run_ids, [run.info.run_name or run.info.run_id for run in runs])
    # dvflow logs exactly the DVC-tracked paths as dataset inputs (source type dvc).
    tracked = {
        i.dataset.name
        for run in runs
        for i in (run.inputs.dataset_inputs if run.inputs else [])
        if i.dataset.source_type == "dvc"
    }
    code, data = split_code_and_data([dict(run.data.tags) for run in runs], tracked or None)
    per_section: dict[str, list[dict[str, str]]] = {
        "code": code,
        "data": data,
        "params": [dict(run.data.params) for run in runs],
        "metrics": [{k: _metric(v) for k, v in run.data.metrics.items()} for run in runs],
    }
    for section in SECTIONS:
        sides = per_section[section]
        keys = sorted(set().union(*sides), key=lambda key: (key != COMMIT_KEY, key))
        for key in keys:
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
                "-" if v is None else (v[:hash_width] if section in _HASHES else v)
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

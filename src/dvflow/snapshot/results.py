"""What a stage reports: its metrics files and its plots, read in every format DVC reads.

- Metrics files (JSON, YAML, TOML through DVC's own loaders; CSV/TSV by their header):
  nested keys are flattened with dots, values that are not numbers are skipped.
- Data plots that are series over steps (CSV/TSV/JSON with a ``step``, ``epoch`` or
  ``iteration`` column, such as DVCLive's ``plots/metrics/*.tsv``): each numeric
  column becomes a metric history. Other data plots (a confusion matrix, ROC points)
  are not histories and stay with DVC.
- Image plots (PNG, JPEG, SVG, GIF) are uploaded as artifacts as they are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvflow.snapshot.params import flatten

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".svg", ".gif"}
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
_STEP_COLUMNS = ("step", "epoch", "iteration")
_IGNORED_COLUMNS = {"timestamp"}


@dataclass
class Results:
    """Metrics, metric histories and images found in a set of files."""

    metrics: dict[str, float] = field(default_factory=dict)
    # metric name -> [(step, value)]
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    images: list[Path] = field(default_factory=list)
    data_plots: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    found = {}
    for key, value in flatten(values).items():
        number = _number(value)
        if number is not None:
            found[key] = number
    return found


def _rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV/TSV table, or of a JSON list of records."""
    if path.suffix.lower() in TABLE_SUFFIXES:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle, delimiter=TABLE_SUFFIXES[path.suffix.lower()]))
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and len(data) == 1:
        data = next(iter(data.values()))
    return [row for row in data if isinstance(row, dict)] if isinstance(data, list) else []


def read_metrics_file(path: Path) -> dict[str, float]:
    """The numeric metrics in one file, flattened with dots."""
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        rows = _rows(path)
        return _numbers(rows[-1]) if rows else {}
    from dvc.fs import LocalFileSystem
    from dvc.utils.serialize import load_path

    data = load_path(str(path), LocalFileSystem())
    return _numbers(data) if isinstance(data, dict) else {}


def read_series(path: Path, name: str) -> dict[str, list[tuple[int, float]]]:
    """Metric histories of a data plot: one per numeric column but the step."""
    rows = _rows(path)
    if not rows:
        return {}
    columns = list(rows[0])
    step_column = next((c for c in _STEP_COLUMNS if c in columns), None)
    if step_column is None:
        return {}
    series: dict[str, list[tuple[int, float]]] = {}
    for index, row in enumerate(rows):
        step_value = _number(row.get(step_column))
        step = int(step_value) if step_value is not None else index
        for column in columns:
            if column == step_column or column in _IGNORED_COLUMNS:
                continue
            value = _number(row.get(column))
            if value is not None:
                values = [c for c in columns if c != step_column and c not in _IGNORED_COLUMNS]
                key = name if len(values) == 1 else f"{name}/{column}"
                series.setdefault(key, []).append((step, value))
    return series


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.is_file())
    elif path.is_file():
        yield path


def plot_name(path: Path, root: Path) -> str:
    """A metric name for a data plot: its path without suffix, DVCLive's prefix removed.

    ``dvclive/plots/metrics/train/loss.tsv`` -> ``train/loss``.
    """
    rel = (
        path.relative_to(root).with_suffix("").as_posix()
        if path.is_relative_to(root)
        else (path.with_suffix("").name)
    )
    marker = "plots/metrics/"
    return rel.split(marker, 1)[1] if marker in rel else rel


def collect_results(metric_files: list[Path], plot_files: list[Path], root: Path) -> Results:
    """Read every metrics file and plot; files that cannot be parsed are skipped."""
    results = Results()
    for declared in metric_files:
        for path in _files(declared):
            try:
                results.metrics.update(read_metrics_file(path))
            except Exception:
                continue
    for declared in plot_files:
        for path in _files(declared):
            suffix = path.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                results.images.append(path)
            elif suffix in TABLE_SUFFIXES or suffix == ".json":
                try:
                    results.series.update(read_series(path, plot_name(path, root)))
                except (ValueError, OSError, csv.Error):
                    continue
    return results


def stage_results(repo: Any, stage: Any) -> Results:
    """The metrics and plots one stage declares as outputs."""
    metrics = [Path(out.fs_path) for out in stage.outs if out.metric]
    plots = [Path(out.fs_path) for out in stage.outs if out.plot]
    return collect_results(metrics, plots, Path(repo.root_dir))


def pipeline_results(repo: Any, stages: Any = None) -> Results:
    """The metrics of ``stages`` and the top-level metrics and plots."""
    from dvflow.integrations.dvc_internals import top_level_metrics, top_level_plots

    stages = list(repo.index.stages if stages is None else stages)
    metric_files = [Path(o.fs_path) for s in stages for o in s.outs if o.metric]
    metric_files += [Path(repo.root_dir, f).parent / p for f, p in top_level_metrics(repo)]
    plot_files: list[Path] = []
    for dvcfile, definition in top_level_plots(repo):
        base = Path(repo.root_dir, dvcfile).parent
        names = definition.keys() if isinstance(definition, dict) else [definition]
        plot_files += [base / str(n) for n in names if (base / str(n)).exists()]
    return collect_results(metric_files, plot_files, Path(repo.root_dir))

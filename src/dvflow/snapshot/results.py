"""What a stage and a pipeline report: metrics and plots, named and read as DVC does.

- Metrics are what ``dvc metrics show`` lists (``Repo.metrics.show``: the stages'
  ``metrics:`` outs and the top-level ``metrics:`` of every dvc.yaml). Nested keys are
  flattened with dots, only numbers are kept, and a name found in several files is
  qualified ``<path>:<name>``, as ``dvc exp show`` names its columns.
- Plots are DVC's own plot definitions, as ``Repo.plots`` collects them: stage
  ``plots:`` outs with their props, and the top-level ``plots:`` of every dvc.yaml
  (``y: {file: column}`` included; read through ``dvflow.integrations.dvc_internals``,
  which says why). Data files are parsed by DVC's ``parse`` and ``get_datapoints``.
  A data plot is a metric
  history when its x is the step: undeclared (DVC plots the row index) or a step-like
  integer column such as ``step`` or ``epoch``. Its y columns are the declared ones, or
  the last column, DVC's default. Other data plots (ROC, precision-recall, confusion
  matrices, bars) are kept as files; image plots are uploaded as they are.
- A file that cannot be read is never skipped silently: it gets one ``DvflowWarning``
  and a line in ``Results.problems``.
"""

from __future__ import annotations

import posixpath
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.errors import DvflowWarning, one_line
from dvflow.snapshot.params import flatten

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

_STEP_COLUMNS = ("step", "epoch", "iteration")
# DVC templates that draw categories, not a curve over steps.
_NOT_HISTORY_TEMPLATES = {
    "confusion",
    "confusion_normalized",
    "bar_horizontal",
    "bar_horizontal_sorted",
    "scatter_jitter",
}


@dataclass
class Results:
    """Metrics, metric histories, images and other plots of a stage or a pipeline."""

    metrics: dict[str, float] = field(default_factory=dict)
    # metric name -> [(step, value)]
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    images: list[Path] = field(default_factory=list)  # image plots, uploaded as they are
    data_plots: list[Path] = field(default_factory=list)  # other data plots, kept as files
    problems: list[str] = field(default_factory=list)  # "<path>: <why> (not recorded)"

    def problem(self, path: str, why: object) -> None:
        """Note a file that was not recorded, and warn about it: once per file, even
        when it is both a metrics file and a plot."""
        if any(line.startswith(f"{path}: ") for line in self.problems):
            return
        message = f"{path}: {_reason(why)} (not recorded)"
        self.problems.append(message)
        warnings.warn(message, DvflowWarning, stacklevel=3)

    def keep(self, kind: list[Path], path: Path) -> None:
        """Add ``path`` to ``images`` or ``data_plots`` unless it is there already."""
        if path not in kind:
            kind.append(path)


def _reason(why: object) -> str:
    """Why a file was not read, in one line: DVC's parse errors say "unable to read:
    '<path relative to somewhere>', JSON file structure is corrupted"; keep the part
    after the path and add the parser's own words (line and column)."""
    text = one_line(why)
    if text.startswith("unable to read: ") and "', " in text:
        text = text.split("', ", 1)[1]
    cause = getattr(why, "__cause__", None)
    return f"{text}: {one_line(cause)}" if cause is not None else text


@dataclass(frozen=True)
class PlotSource:
    """One data file of one plot definition, with the x and y DVC draws from it."""

    path: str  # repo-relative, posix
    y: list[str] | None  # None: DVC's default, the last column
    x: str | None  # None: DVC's default, the row index
    x_path: str | None = None  # the file x is read from when x names another file
    template: str | None = None
    props: Mapping[str, Any] = field(default_factory=dict)


def stage_results(repo: Repo, stage: Stage) -> Results:
    """What one stage reports: its own metrics and plots outs, and the top-level
    ``metrics:``/``plots:`` whose files the stage writes (its outs contain them).

    In DVC's example-get-started project, ``evaluate`` outputs ``eval`` and the top
    level declares ``eval/metrics.json`` and the ROC plots: they belong to ``evaluate``.
    """
    from dvflow.integrations.dvc_internals import top_level_metrics

    outs = [Path(out.fs_path) for out in stage.outs]

    def written(path: str) -> bool:
        return _under(Path(repo.root_dir, path), outs)

    metric_files = [Path(out.fs_path) for out in stage.outs if out.metric]
    metric_files += [Path(repo.root_dir, p) for p in top_level_metrics(repo) if written(p)]
    results = Results()
    results.metrics = qualified_metrics(_read_metrics(repo, metric_files, results))
    sources = [s for s in _top_level_plots(repo, results) if written(s.path)]
    _read_plots(repo, [*_stage_plots(repo, stage), *sources], results)
    return results


def pipeline_results(repo: Repo, stages: Sequence[Stage] | None = None) -> Results:
    """What a pipeline reports: the metrics ``dvc metrics show`` lists (those of
    ``stages``, default all, and the top-level ``metrics:``), qualified as ``dvc exp
    show`` qualifies them, and the top-level ``plots:`` of every dvc.yaml."""
    from dvflow.integrations.dvc_internals import top_level_metrics

    metric_files = None
    if stages is not None:
        metric_files = [Path(out.fs_path) for stage in stages for out in stage.metrics]
        metric_files += [Path(repo.root_dir, p) for p in top_level_metrics(repo)]
    results = Results()
    results.metrics = qualified_metrics(_read_metrics(repo, metric_files, results))
    _read_plots(repo, _top_level_plots(repo, results), results)
    return results


def _under(path: Path, folders: Sequence[Path]) -> bool:
    return any(path == folder or path.is_relative_to(folder) for folder in folders)


def qualified_metrics(files: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The numbers of several metrics files under the names ``dvc exp show`` gives
    them: a name found in one file stays bare, one found in several is ``path:name``.

    >>> qualified_metrics({"a/m.json": {"acc": 0.5, "f1": {"x": 1}}, "b/m.json": {"acc": 1}})
    {'a/m.json:acc': 0.5, 'f1.x': 1.0, 'b/m.json:acc': 1.0}
    """
    # As dvc/repo/experiments/show.py (_collect_names, _normalize_headers): names are
    # counted over every flattened key, numbers or not.
    flat = {path: flatten(data) for path, data in files.items()}
    count = Counter(name for names in flat.values() for name in names)
    return {
        name if count[name] == 1 else f"{path}:{name}": float(value)
        for path, names in flat.items()
        for name, value in names.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def _read_metrics(
    repo: Repo, paths: list[Path] | None, results: Results
) -> dict[str, Mapping[str, Any]]:
    """Metrics files read by ``dvc metrics show`` (all it lists when ``paths`` is None),
    by repo-relative posix path."""
    if paths is not None and not paths:
        return {}  # no targets would mean every metrics file of the project
    targets = None if paths is None else [str(p) for p in paths]
    shown = repo.metrics.show(targets=targets, hide_workspace=False)
    workspace: dict[str, Any] = next(iter(shown.values()), {})
    if "error" in workspace:
        results.problem("dvc.yaml", workspace["error"])
    files: dict[str, Mapping[str, Any]] = {}
    for os_path, read in workspace.get("data", {}).items():
        path = Path(os_path).as_posix()
        # DVC falls back to the cache for a file missing from the workspace: that is
        # last run's number, not this one's.
        if not Path(repo.root_dir, path).exists():
            results.problem(path, "file not found")
        elif "error" in read:
            results.problem(path, read["error"])
        elif not isinstance(read.get("data"), dict):
            results.problem(path, "not a mapping of metric names to values")
        else:
            files[path] = read["data"]
    return files


def _stage_plots(repo: Repo, stage: Stage) -> list[PlotSource]:
    """The stage's ``plots:`` outs with their props, a folder expanded to its files
    (what ``Repo.plots`` collects from the index's outs, for this stage alone)."""
    from dvflow.integrations.dvc_internals import plot_props

    known = plot_props()
    sources = []
    for out in stage.outs:
        if not out.plot:
            continue
        props = {k: v for k, v in out.plot.items() if k in known} if out.plot is not True else {}
        path = Path(out.fs_path)
        for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
            sources.append(_source(Path(file).relative_to(repo.root_dir).as_posix(), props))
    return sources


def _top_level_plots(repo: Repo, results: Results) -> list[PlotSource]:
    """The data files of every dvc.yaml's ``plots:``, with the x/y of their definition."""
    from dvflow.integrations.dvc_internals import top_level_plot_definitions

    cwd = repo.dvcfs.getcwd()  # DVC gives these paths relative to the current directory

    def path_of(relative: str) -> str:
        return posixpath.normpath(posixpath.join(cwd, relative)).lstrip("/")

    sources = []
    for config, content in top_level_plot_definitions(repo).items():
        if "error" in content:
            results.problem(path_of(config), content["error"])
        for plot_id, props in content.get("data", {}).items():
            props = props or {}
            x = props.get("x")
            x_path = path_of(next(iter(x))) if isinstance(x, dict) else None
            y = props.get("y")
            for file, columns in (y if isinstance(y, dict) else {plot_id: y}).items():
                sources.append(_source(path_of(file), props, columns, x_path))
    return sources


def _source(
    path: str, props: Mapping[str, Any], y: Any = None, x_path: str | None = None
) -> PlotSource:
    """One data file of a plot definition; ``y`` are its columns and ``x_path`` the
    file of its x when the definition names files (``y: {file: column}``)."""
    x = props.get("x")
    y = y if y is not None else props.get("y")
    return PlotSource(
        path=path,
        y=[y] if isinstance(y, str) else y,
        x=next(iter(x.values())) if isinstance(x, dict) else x,
        x_path=x_path,
        template=props.get("template"),
        props=props,
    )


def _read_plots(repo: Repo, sources: list[PlotSource], results: Results) -> None:
    from dvflow.integrations.dvc_internals import (
        image_extensions,
        plot_datapoints,
        read_plot_file,
    )

    images = image_extensions()
    for source in sources:
        path = Path(repo.root_dir, source.path)
        if not path.exists():
            results.problem(source.path, "file not found")
            continue
        if path.suffix.lower() in images:
            results.keep(results.images, path)
            continue
        read = read_plot_file(repo, source.path, source.props)
        if "error" in read:
            results.problem(source.path, read["error"])
            continue
        rows = plot_datapoints(read.get("data") or [])
        try:
            histories = plot_history(rows, source)
        except KeyError as missing:
            results.problem(source.path, f"no column {missing} in the plot's data")
            continue
        if histories is None:
            results.keep(results.data_plots, path)
            continue
        name = plot_name(path, Path(repo.root_dir))
        for column, points in histories.items():
            results.series[name if len(histories) == 1 else f"{name}/{column}"] = points


def plot_history(
    rows: list[dict[str, Any]], source: PlotSource
) -> dict[str, list[tuple[int, float]]] | None:
    """The metric histories of a data plot, by y column; None when the plot is not a
    history (its x is not the step, or its template draws categories).

    Raises:
        KeyError: a declared x or y column is not in the data (DVC fails there too).

    >>> rows = [{"step": 0, "loss": 0.9}, {"step": 1, "loss": 0.5}]
    >>> plot_history(rows, PlotSource("loss.tsv", y=None, x="step"))
    {'loss': [(0, 0.9), (1, 0.5)]}
    >>> roc = [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.5, "tpr": 0.8}]
    >>> plot_history(roc, PlotSource("roc.csv", y=["tpr"], x="fpr")) is None
    True
    """
    if source.template in _NOT_HISTORY_TEMPLATES:
        return None
    if source.x_path not in (None, source.path):
        return None  # steps read from another file: not a history of this one
    if not rows:
        return {}
    columns = source.y or [list(rows[0])[-1]]
    for column in [*columns, *([source.x] if source.x else [])]:
        if column not in rows[0]:
            raise KeyError(column)
    if source.x is None:
        steps: list[int | None] = list(range(len(rows)))
    elif source.x.lower() in _STEP_COLUMNS:
        steps = [_integer(row.get(source.x)) for row in rows]
        if None in steps:
            return None
    else:
        return None
    histories: dict[str, list[tuple[int, float]]] = {}
    for column in columns:
        points = [
            (step, value)
            for step, row in zip(steps, rows, strict=True)
            if step is not None and (value := _number(row.get(column))) is not None
        ]
        if column != source.x and points:
            histories[column] = points
    return histories


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


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

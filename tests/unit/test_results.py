"""Naming metrics and reading plot histories as DVC does, and the path-list reader."""

from pathlib import Path
from typing import Any

import pytest

from dvflow.errors import DvflowWarning
from dvflow.snapshot.results import (
    PlotSource,
    Results,
    collect_results,
    plot_history,
    plot_name,
    qualified_metrics,
    read_metrics_file,
    read_series,
)

STEPS = [{"timestamp": 5, "step": 10, "loss": 0.9}, {"timestamp": 6, "step": 20, "loss": 0.5}]


def source(
    y: list[str] | None = None,
    x: str | None = None,
    template: str | None = None,
    x_path: str | None = None,
) -> PlotSource:
    return PlotSource("p.csv", y=y, x=x, x_path=x_path, template=template)


def test_a_name_in_several_files_is_qualified_by_its_path() -> None:
    files: dict[str, Any] = {
        "a/metrics.json": {"accuracy": 0.5, "train": {"f1": 0.25}},
        "b/metrics.json": {"accuracy": 0.75, "loss": 2},
    }
    assert qualified_metrics(files) == {
        "a/metrics.json:accuracy": 0.5,
        "train.f1": 0.25,
        "b/metrics.json:accuracy": 0.75,
        "loss": 2.0,
    }


def test_only_numbers_are_kept_but_every_name_counts() -> None:
    # `dvc exp show` counts a name in every file, whatever its value.
    files: dict[str, Any] = {
        "a.json": {"acc": 0.5, "ok": True, "label": "x"},
        "b.yaml": {"acc": "n/a"},
    }
    assert qualified_metrics(files) == {"a.json:acc": 0.5}


def test_history_by_declared_step_column_or_row_index() -> None:
    assert plot_history(STEPS, source(x="step")) == {"loss": [(10, 0.9), (20, 0.5)]}
    # x undeclared: DVC plots the row index; y undeclared: the last column.
    assert plot_history(STEPS, source()) == {"loss": [(0, 0.9), (1, 0.5)]}
    rows = [{"epoch": "0", "train": "1.0", "val": "1.5"}, {"epoch": "1", "train": "0.5", "val": ""}]
    assert plot_history(rows, source(y=["train", "val"], x="epoch")) == {
        "train": [(0, 1.0), (1, 0.5)],
        "val": [(0, 1.5)],
    }
    assert plot_history([], source(x="step")) == {}


def test_plots_whose_x_is_not_the_step_are_not_histories() -> None:
    roc = [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.5, "tpr": 0.8}]
    assert plot_history(roc, source(y=["tpr"], x="fpr")) is None
    confusion = [{"actual": 0, "predicted": 1}, {"actual": 1, "predicted": 1}]
    assert plot_history(confusion, source(y=["predicted"], x="actual")) is None
    # A template that draws categories is no history even over the row index.
    assert plot_history(confusion, source(template="confusion")) is None
    # A "step" that is not an integer is not a step.
    assert plot_history([{"step": 0.5, "v": 1}], source(x="step")) is None
    assert plot_history(STEPS, source(x="step", x_path="other.csv")) is None


def test_a_declared_column_missing_from_the_data_is_an_error() -> None:
    with pytest.raises(KeyError, match="tpr"):
        plot_history(STEPS, source(y=["tpr"], x="step"))
    with pytest.raises(KeyError, match="epoch"):
        plot_history(STEPS, source(x="epoch"))


def test_a_problem_warns_once_per_file() -> None:
    results = Results()
    with pytest.warns(DvflowWarning, match=r"^m\.json: file not found \(not recorded\)$"):
        results.problem("m.json", "file not found")
    results.problem("m.json", "not a mapping")  # the same file as a plot: no second line
    assert results.problems == ["m.json: file not found (not recorded)"]


def test_metrics_in_every_format(tmp_path: Path) -> None:
    files = {
        "m.json": '{"acc": 0.9, "nested": {"f1": 0.8}, "label": "x", "ok": true}',
        "m.yaml": "loss: 0.25\nby_class:\n  a: 1\n",
        "m.toml": "[eval]\nauc = 0.75\n",
        "m.csv": "acc,loss\n0.1,2\n0.5,1\n",
        "m.tsv": "precision\trecall\n0.6\t0.7\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert read_metrics_file(tmp_path / "m.json") == {"acc": 0.9, "nested.f1": 0.8}
    assert read_metrics_file(tmp_path / "m.yaml") == {"loss": 0.25, "by_class.a": 1.0}
    assert read_metrics_file(tmp_path / "m.toml") == {"eval.auc": 0.75}
    assert read_metrics_file(tmp_path / "m.csv") == {"acc": 0.5, "loss": 1.0}  # last row
    assert read_metrics_file(tmp_path / "m.tsv") == {"precision": 0.6, "recall": 0.7}


def test_series_need_a_step_column(tmp_path: Path) -> None:
    (tmp_path / "loss.tsv").write_text("timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.5\n")
    (tmp_path / "two.csv").write_text("epoch,train,val\n0,1.0,1.5\n1,0.5,0.9\n")
    (tmp_path / "confusion.csv").write_text("actual,predicted\n0,1\n1,1\n")
    (tmp_path / "points.json").write_text(
        '{"roc": [{"step": 0, "tpr": 0.1}, {"step": 1, "tpr": 0.4}]}'
    )
    assert read_series(tmp_path / "loss.tsv", "loss") == {"loss": [(0, 0.9), (1, 0.5)]}
    assert read_series(tmp_path / "two.csv", "curve") == {
        "curve/train": [(0, 1.0), (1, 0.5)],
        "curve/val": [(0, 1.5), (1, 0.9)],
    }
    assert read_series(tmp_path / "confusion.csv", "cm") == {}
    assert read_series(tmp_path / "points.json", "roc") == {"roc": [(0, 0.1), (1, 0.4)]}


def test_collect_walks_folders_and_keeps_images(tmp_path: Path) -> None:
    live = tmp_path / "dvclive" / "plots" / "metrics" / "train"
    live.mkdir(parents=True)
    (live / "loss.tsv").write_text("step\tloss\n0\t1.0\n1\t0.5\n")
    (tmp_path / "cm.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "metrics.json").write_text('{"acc": 1}')
    results = collect_results(
        [tmp_path / "metrics.json", tmp_path / "broken.json"],
        [tmp_path / "dvclive" / "plots", tmp_path / "cm.png"],
        tmp_path,
    )
    assert results.metrics == {"acc": 1.0}
    assert results.series == {"train/loss": [(0, 1.0), (1, 0.5)]}
    assert results.images == [tmp_path / "cm.png"]
    assert plot_name(live / "loss.tsv", tmp_path) == "train/loss"


def test_the_dvc_internals_we_call_are_still_there() -> None:
    import inspect

    from dvc.repo.metrics.show import _collect_top_level_metrics
    from dvc.repo.plots import _collect_pipeline_files

    assert list(inspect.signature(_collect_top_level_metrics).parameters) == ["repo"]
    assert list(inspect.signature(_collect_pipeline_files).parameters) == [
        "repo",
        "targets",
        "props",
        "onerror",
    ]

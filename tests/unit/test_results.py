"""Naming metrics and reading plot histories as DVC does."""

from pathlib import Path
from typing import Any

import pytest

from dvflow.errors import DvflowWarning
from dvflow.snapshot.results import (
    PlotSource,
    Results,
    plot_history,
    plot_name,
    qualified_metrics,
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


def test_dvclive_plot_names_lose_dvclives_prefix(tmp_path: Path) -> None:
    live = tmp_path / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv"
    assert plot_name(live, tmp_path) == "train/loss"

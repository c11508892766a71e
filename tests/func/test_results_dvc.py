"""Metrics and plots of a real DVC pipeline, named and read as DVC names and reads them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dvflow.errors import DvflowWarning
from dvflow.snapshot.results import pipeline_results, stage_results
from tests.conftest import TmpDir

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

# Shaped like DVC's example-get-started: `evaluate` outputs a folder whose metrics and
# plots are declared only at the top level; two stages write `accuracy`; below, a
# DVCLive-like history whose steps (10, 20) are not the row index.
PIPELINE = """\
stages:
  a:
    cmd: mkdir -p a && cp in/a.json a/metrics.json
    deps: [in/a.json]
    metrics: [a/metrics.json]
  b:
    cmd: mkdir -p b && cp in/b.json b/metrics.json
    deps: [in/b.json]
    metrics: [b/metrics.json]
  evaluate:
    cmd: mkdir -p eval && cp in/eval.json eval/metrics.json && cp in/roc.csv in/cm.csv eval/
    deps: [in]
    outs: [eval]
metrics:
- eval/metrics.json
plots:
- ROC:
    x: fpr
    y:
      eval/roc.csv: tpr
- eval/cm.csv:
    template: confusion
    x: actual
    y: predicted
"""

INPUTS = {
    "in/a.json": '{"accuracy": 0.5, "train": {"f1": 0.25}}',
    "in/b.json": '{"accuracy": 0.75, "note": "text"}',
    "in/eval.json": '{"auc": 0.9}',
    "in/roc.csv": "fpr,tpr\n0,0\n0.5,0.8\n1,1\n",
    "in/cm.csv": "actual,predicted\n0,1\n1,1\n",
    "in/loss.tsv": "timestamp\tstep\tloss\n1\t10\t0.9\n2\t20\t0.5\n",
    "in/curve.csv": "epoch,acc\n5,0.1\n6,0.2\n",
}

# A second dvc.yaml in a subfolder, where DVC's paths are relative to that folder.
# DVCLive declares its plots at the top level; `curve.csv` is a stage plot with no x.
MODEL = """\
stages:
  train:
    cmd: >-
      mkdir -p dvclive/plots/metrics/train && cp ../in/loss.tsv dvclive/plots/metrics/train/
      && cp ../in/curve.csv .
    deps: [../in/loss.tsv, ../in/curve.csv]
    outs: [dvclive]
    plots: [curve.csv]
plots:
- dvclive/plots/metrics:
    x: step
"""


@pytest.fixture
def repo(dvc: TmpDir) -> Iterator[Repo]:
    from dvc.repo import Repo

    dvc.gen({"dvc.yaml": PIPELINE, "model/dvc.yaml": MODEL, **INPUTS})
    dvc.dvc("repro", "--all-pipelines")
    with Repo(str(dvc.path)) as opened:
        yield opened


def stage(repo: Repo, name: str) -> Stage:
    return next(s for s in repo.index.stages if getattr(s, "name", None) == name)


def test_the_same_name_in_two_files_is_qualified_by_path(repo: Repo) -> None:
    results = pipeline_results(repo)
    assert results.metrics == {
        "a/metrics.json:accuracy": 0.5,
        "train.f1": 0.25,
        "b/metrics.json:accuracy": 0.75,
        "auc": 0.9,
    }
    assert results.problems == []
    # Within one stage the name is unique: it stays bare, as `dvc metrics show` has it.
    assert stage_results(repo, stage(repo, "a")).metrics == {"accuracy": 0.5, "train.f1": 0.25}


def test_pipeline_metrics_of_some_stages_keep_the_top_level_ones(repo: Repo) -> None:
    results = pipeline_results(repo, [stage(repo, "a")])
    assert results.metrics == {"accuracy": 0.5, "train.f1": 0.25, "auc": 0.9}


def test_top_level_results_belong_to_the_stage_that_writes_them(repo: Repo) -> None:
    results = stage_results(repo, stage(repo, "evaluate"))
    root = Path(repo.root_dir)
    assert results.metrics == {"auc": 0.9}
    assert results.data_plots == [root / "eval/roc.csv", root / "eval/cm.csv"]
    assert results.series == {}
    assert stage_results(repo, stage(repo, "b")).data_plots == []


def test_roc_and_confusion_are_kept_as_files_not_histories(repo: Repo) -> None:
    results = pipeline_results(repo)
    root = Path(repo.root_dir)
    assert results.data_plots == [root / "eval/roc.csv", root / "eval/cm.csv"]
    # Top-level plots of every dvc.yaml; the stage plot `model/curve.csv` is train's.
    assert results.series == {"train/loss": [(10, 0.9), (20, 0.5)]}
    assert results.images == []


TRAIN_SERIES = {
    # x: step declared: the step column; DVCLive's name.
    "train/loss": [(10, 0.9), (20, 0.5)],
    # x undeclared: DVC's row index; y undeclared: DVC's last column.
    "model/curve": [(0, 0.1), (1, 0.2)],
}


def test_a_history_is_stepped_by_its_declared_x(repo: Repo) -> None:
    results = stage_results(repo, stage(repo, "train"))
    assert results.series == TRAIN_SERIES
    assert results.data_plots == []
    assert results.problems == []


def test_plot_paths_do_not_depend_on_the_current_folder(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DVC gives plot paths relative to the current folder.
    monkeypatch.chdir(Path(repo.root_dir, "model"))
    results = stage_results(repo, stage(repo, "evaluate"))
    root = Path(repo.root_dir)
    assert results.data_plots == [root / "eval/roc.csv", root / "eval/cm.csv"]
    assert stage_results(repo, stage(repo, "train")).series == TRAIN_SERIES


def test_an_unreadable_metrics_file_warns_and_is_listed(dvc: TmpDir) -> None:
    from dvc.repo import Repo

    dvc.gen(
        {
            "dvc.yaml": "stages:\n  report:\n    cmd: cp in.json report.json\n"
            "    metrics: [report.json]\n",
            "in.json": '{"accuracy": ',
        }
    )
    dvc.dvc("repro")
    expected = r"report\.json: JSON .* \(not recorded\)"
    with Repo(str(dvc.path)) as repo, pytest.warns(DvflowWarning, match=expected):
        results = stage_results(repo, stage(repo, "report"))
    assert results.metrics == {}
    assert len(results.problems) == 1
    assert results.problems[0].startswith("report.json: JSON file structure is corrupted")


def test_a_metrics_file_gone_from_the_workspace_is_not_read_from_the_cache(
    dvc: TmpDir,
) -> None:
    from dvc.repo import Repo

    dvc.gen(
        {
            "dvc.yaml": "stages:\n  c:\n    cmd: cp in.json c.json\n    metrics: [c.json]\n",
            "in.json": '{"accuracy": 1}',
        }
    )
    dvc.dvc("repro")  # c.json is cached: DVC itself would still show its value
    (dvc.path / "c.json").unlink()
    with Repo(str(dvc.path)) as repo, pytest.warns(DvflowWarning, match=r"c\.json: file not"):
        results = stage_results(repo, stage(repo, "c"))
    assert results.metrics == {}
    assert results.problems == ["c.json: file not found (not recorded)"]

"""The files a stage streams while it runs, read from its definition in dvc.yaml."""

from pathlib import Path

from dvflow.recorder.protocol import StepSeries
from dvflow.repro.stepfiles import step_series

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    outs: [results]
    plots:
      - log.csv: {x: epoch, y: loss}
      - confusion.csv: {template: confusion, x: actual, y: predicted}
      - roc.csv: {x: fpr, y: tpr}
      - curve.tsv
"""


def test_step_series_of_a_stage(tmp_path: Path) -> None:
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True)
    (tmp_path / "dvc.yaml").write_text(PIPELINE)
    with Repo(str(tmp_path)) as repo:
        (stage,) = repo.stage.collect("train")
        found = step_series(Path(repo.root_dir), stage)
    assert found == [
        StepSeries("results/plots/metrics", "step", None),  # a Live(dir="results")
        StepSeries("log.csv", "epoch", ["loss"]),
        StepSeries("curve.tsv", None, None),  # x undeclared: the row is the step
        StepSeries("dvclive/plots/metrics", "step", None),  # DVCLive's default folder
    ]

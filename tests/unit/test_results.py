"""Metrics files and plots in every format DVC reads."""

from pathlib import Path

from dvflow.snapshot.results import collect_results, plot_name, read_metrics_file, read_series


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

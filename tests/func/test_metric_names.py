"""Metric names MLflow refuses: logged under a documented mapping, or kept in an
artifact; the other metrics are logged whatever happens."""

import json
from pathlib import Path
from typing import Any

from dvflow.tracking import schema as tags
from dvflow.tracking.writer import log_metrics, metric_name


def test_mapping_of_refused_names() -> None:
    assert metric_name("precision@5") == "precision_5"
    assert metric_name("f1(macro)") == "f1_macro"
    assert metric_name("eval/metrics.json:acc") == "eval/metrics.json:acc"  # accepted as is
    assert metric_name("a//b/../c") == "a/b/c"
    assert metric_name("@@@") == ""


def test_refused_names_are_mapped_or_overflow(client: Any, tmp_path: Path) -> None:
    from mlflow.entities import Metric

    experiment = client.create_experiment("m", artifact_location=(tmp_path / "a").as_uri())
    run_id = client.create_run(experiment).info.run_id
    metrics = [
        Metric("acc", 0.9, 1, 0),
        Metric("precision@5", 0.5, 1, 0),
        Metric("f1(macro)", 0.7, 1, 0),
        Metric("f1(macro)", 0.8, 2, 1),
        Metric("f1_macro", 0.1, 1, 0),  # the mapped name is taken: (macro) overflows
        Metric("@@@", 0.3, 1, 0),  # nothing is left of it
    ]
    renamed = log_metrics(client, run_id, metrics)
    run = client.get_run(run_id)
    assert run.data.metrics == {"acc": 0.9, "precision_5": 0.5, "f1_macro": 0.1}
    assert renamed == {"precision_5": "precision@5"}
    assert run.data.tags[f"{tags.METRIC_NAME_PREFIX}precision_5"] == "precision@5"
    folder = run.data.tags[tags.METRICS_OVERFLOW]
    assert folder == "dvflow/metrics_overflow/"
    (artifact,) = client.list_artifacts(run_id, folder.rstrip("/"))
    saved = json.loads(Path(client.download_artifacts(run_id, artifact.path, tmp_path)).read_text())
    assert saved == {"f1(macro)": [[0, 0.7, 1], [1, 0.8, 2]], "@@@": [[0, 0.3, 1]]}

"""`dvflow.log_metrics` inside a stage maps the names MLflow refuses as the recorder
does (docs/tag-schema.md): `precision@5` is logged as `precision_5` with the tag
`dvflow.metric_name.precision_5`, a name that cannot be mapped goes to the overflow
artifact, and the run goes on."""

import json
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes

SCRIPT = """\
import dvflow
with dvflow.start_run():
    dvflow.log_metrics({"precision@5": 0.5, "f1(macro)": 0.75, "acc": 0.9}, step=2)
    # Mapped, `recall@5` would be `recall_5`, a metric of its own: it overflows.
    dvflow.log_metrics({"recall@5": 0.25, "recall_5": 0.3})
    open("done.txt", "w").write("ok")
"""


def test_log_metrics_in_a_stage_maps_refused_names(
    dvc: TmpDir, client: Any, tmp_path: Path
) -> None:
    dvc.gen(
        {
            "train.py": SCRIPT,
            "dvc.yaml": (
                "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
                "    outs: [done.txt]\n"
            ),
        }
    )
    dvc.commit("pipeline")
    result = dvflow(dvc, "repro")
    assert "Traceback" not in result.stderr and "MlflowException" not in result.stderr
    [stage] = [r for r in all_runs(client) if r.data.tags[tags.KIND] == tags.KIND_STAGE]
    assert stage.info.status == "FINISHED"
    assert stage.data.metrics == {
        "precision_5": 0.5,
        "f1_macro": 0.75,
        "acc": 0.9,
        "recall_5": 0.3,
    }
    assert stage.data.tags[f"{tags.METRIC_NAME_PREFIX}precision_5"] == "precision@5"
    assert stage.data.tags[f"{tags.METRIC_NAME_PREFIX}f1_macro"] == "f1(macro)"
    history = client.get_metric_history(stage.info.run_id, "precision_5")
    assert [(m.step, m.value) for m in history] == [(2, 0.5)]
    # The name that could not be mapped is kept, with its value, in the overflow.
    folder = stage.data.tags[tags.METRICS_OVERFLOW]
    [artifact] = client.list_artifacts(stage.info.run_id, folder.rstrip("/"))
    local = client.download_artifacts(stage.info.run_id, artifact.path, str(tmp_path))
    kept = json.loads(Path(local).read_text())
    assert list(kept) == ["recall@5"] and kept["recall@5"][0][1] == 0.25

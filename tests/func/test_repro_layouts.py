"""`dvflow repro` on DVC projects as people write them, without touching their files."""

from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes, seconds each

GEN = """\
import sys
from pathlib import Path
Path("data").mkdir(exist_ok=True)
Path(f"data/{sys.argv[1]}.txt").write_text(sys.argv[1] * 3)
"""

COMBINE = """\
import sys
from pathlib import Path
import yaml
hyper = yaml.safe_load(open("extra/hyper.yaml"))
Path("out").mkdir(exist_ok=True)
text = Path("data/x.txt").read_text() + Path("data/y.txt").read_text()
Path(f"out/{sys.argv[1]}-{sys.argv[2]}.txt").write_text(f"{text} {hyper['depth']}")
"""

LIVE = """\
from dvclive import Live

with Live("dvclive", dvcyaml=False, save_dvc_exp=False) as live:
    for step in range(3):
        live.log_metric("loss", 1.0 / (step + 1))
        live.log_metric("acc", 0.5 + step / 10)
        live.next_step()
"""

PIPELINE = """\
vars:
  - extra/hyper.yaml
stages:
  gen:
    foreach: [x, y]
    do:
      cmd: python gen.py ${item}
      deps: [gen.py]
      outs: ["data/${item}.txt"]
  combine:
    matrix:
      model: [lin, tree]
      size: [1, 2]
    cmd: python combine.py ${item.model} ${item.size}
    deps: [combine.py, data/x.txt, data/y.txt]
    params:
      - train.lr
      - extra/hyper.yaml:
    outs: ["out/${item.model}-${item.size}.txt"]
  check:
    cmd: python -c "print('checked ${depth}')"
    deps: [out/lin-1.txt]
    always_changed: true
  frozen:
    cmd: echo frozen > frozen.txt
    outs: [frozen.txt]
  live:
    cmd: python live.py
    deps: [live.py]
    metrics:
      - dvclive/metrics.json:
          cache: false
    plots:
      - dvclive/plots/metrics:
          x: step
          cache: false
  in_wdir:
    wdir: work
    cmd: python -c "open('result.txt','w').write(open('../out/tree-2.txt').read())"
    deps: [../out/tree-2.txt]
    outs: [result.txt]
metrics:
  - dvclive/metrics.json
plots:
  - dvclive/plots/metrics:
      x: step
artifacts:
  model:
    path: out/lin-1.txt
    type: model
"""

SUB_PIPELINE = """\
stages:
  report:
    cmd: python -c "open('report.txt','w').write('rows')"
    params:
      - report.title
    outs: [report.txt]
"""


@pytest.fixture
def project(dvc: TmpDir, tracking_uri: str) -> TmpDir:
    dvc.gen(
        {
            "gen.py": GEN,
            "combine.py": COMBINE,
            "live.py": LIVE,
            "params.yaml": "train:\n  lr: 0.01\n",
            "extra/hyper.yaml": "depth: 4\nwidth: 8\n",
            "dvc.yaml": PIPELINE,
            "work/.gitkeep": "",
            "sub/dvc.yaml": SUB_PIPELINE,
            "sub/params.yaml": "report:\n  title: weekly\n",
        }
    )
    # A stage run once, then frozen by its owner.
    dvc.dvc("repro", "-q", "frozen")
    dvc.dvc("freeze", "frozen")
    dvc.commit("pipeline")
    return dvc


def _stage_runs(client: Any, parent_id: str) -> dict[str, Any]:
    return {
        r.data.tags[tags.DVC_STAGE]: r
        for r in all_runs(client)
        if r.data.tags.get(tags.PARENT_RUN_ID) == parent_id
    }


@pytest.mark.slow
def test_real_pipeline_features(project: TmpDir, client: Any) -> None:
    user_files = {p: p.read_bytes() for p in project.path.rglob("*.yaml") if ".dvc" not in p.parts}
    dvflow(project, "repro", "--all-pipelines")
    (parent,) = [r for r in all_runs(client) if r.data.tags[tags.KIND] == tags.KIND_PIPELINE]
    stages = _stage_runs(client, parent.info.run_id)
    expected = {
        "gen@x",
        "gen@y",
        "combine@lin-1",
        "combine@lin-2",
        "combine@tree-1",
        "combine@tree-2",
        "check",
        "live",
        "in_wdir",
        "sub/dvc.yaml:report",
    }
    assert expected <= set(stages)
    assert stages["frozen"].data.tags[tags.STAGE_STATUS] == "skipped"
    assert all(r.info.status == "FINISHED" for r in stages.values())
    # Whole-file params and several params files, as DVC resolves them.
    assert stages["combine@lin-1"].data.params == {"train.lr": "0.01", "depth": "4", "width": "8"}
    assert stages["sub/dvc.yaml:report"].data.params == {"report.title": "weekly"}
    # wdir: paths are relative to the project root.
    assert "dvc.out.work/result.txt" in stages["in_wdir"].data.tags
    assert "dvc.dep.out/tree-2.txt" in stages["in_wdir"].data.tags
    # DVCLive: the summary as metrics, the TSV series as metric histories with steps.
    live = stages["live"]
    assert live.data.metrics["loss"] == pytest.approx(1 / 3)
    history = client.get_metric_history(live.info.run_id, "loss")
    assert [(m.step, round(m.value, 3)) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.333)]
    # The parent gets the top-level metrics and plots, and the whole lineage.
    assert parent.data.metrics["acc"] == pytest.approx(0.7)
    assert len(client.get_metric_history(parent.info.run_id, "acc")) == 3
    text = Path(client.download_artifacts(parent.info.run_id, "dvflow/lineage.txt")).read_text()
    assert "combine@tree-2 [ran]" in text and "sub/dvc.yaml:report [ran]" in text
    # Nothing the user wrote was changed.
    assert {p: p.read_bytes() for p in user_files} == user_files

    # Second run: only the always_changed stage runs; every other stage is recorded skipped.
    dvflow(project, "repro", "--all-pipelines")
    parents = [r for r in all_runs(client) if r.data.tags[tags.KIND] == tags.KIND_PIPELINE]
    latest = max(parents, key=lambda r: r.info.start_time)
    second = _stage_runs(client, latest.info.run_id)
    ran = {name for name, r in second.items() if r.data.tags[tags.STAGE_STATUS] == "ran"}
    assert ran == {"check"}
    assert (
        second["combine@lin-1"].data.tags["dvc.out.out/lin-1.txt"]
        == (stages["combine@lin-1"].data.tags["dvc.out.out/lin-1.txt"])
    )


# A copy of the usual public DVC example layout (prepare, featurize, train, evaluate
# with DVCLive), written for this test; train uses MLflow's sklearn autolog, unmodified.
EXAMPLE_FILES = {
    "src/prepare.py": """\
import sys
from pathlib import Path
import pandas as pd
import yaml
from sklearn.datasets import load_breast_cancer

params = yaml.safe_load(open("params.yaml"))["prepare"]
frame = pd.read_csv("data/data.csv")
test = frame.sample(frac=params["split"], random_state=params["seed"])
train = frame.drop(test.index)
Path("data/prepared").mkdir(parents=True, exist_ok=True)
train.to_csv("data/prepared/train.csv", index=False)
test.to_csv("data/prepared/test.csv", index=False)
""",
    "src/featurize.py": """\
from pathlib import Path
import pandas as pd
import yaml

params = yaml.safe_load(open("params.yaml"))["featurize"]
Path("data/features").mkdir(parents=True, exist_ok=True)
for name in ("train", "test"):
    frame = pd.read_csv(f"data/prepared/{name}.csv")
    columns = [c for c in frame.columns if c != "target"][: params["max_features"]]
    frame[[*columns, "target"]].to_csv(f"data/features/{name}.csv", index=False)
""",
    "src/train.py": """\
import pickle
import mlflow
import pandas as pd
import yaml
from sklearn.ensemble import RandomForestClassifier

params = yaml.safe_load(open("params.yaml"))["train"]
mlflow.sklearn.autolog(log_models=False, log_datasets=False)
frame = pd.read_csv("data/features/train.csv")
model = RandomForestClassifier(n_estimators=params["n_est"], random_state=params["seed"])
model.fit(frame.drop(columns="target"), frame["target"])
pickle.dump(model, open("model.pkl", "wb"))
""",
    "src/evaluate.py": """\
import pickle
import pandas as pd
from dvclive import Live
from sklearn import metrics

model = pickle.load(open("model.pkl", "rb"))
frame = pd.read_csv("data/features/test.csv")
x, y = frame.drop(columns="target"), frame["target"]
scores = model.predict_proba(x)[:, 1]
with Live("eval", dvcyaml=False, save_dvc_exp=False) as live:
    live.summary["avg_prec"] = metrics.average_precision_score(y, scores)
    live.summary["roc_auc"] = metrics.roc_auc_score(y, scores)
    live.log_sklearn_plot("roc", y, scores, name="roc.json")
""",
    "params.yaml": """\
prepare:
  split: 0.25
  seed: 20170428
featurize:
  max_features: 10
train:
  seed: 20170428
  n_est: 20
""",
    "dvc.yaml": """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [data/data.csv, src/prepare.py]
    params: [prepare.seed, prepare.split]
    outs: [data/prepared]
  featurize:
    cmd: python src/featurize.py
    deps: [data/prepared, src/featurize.py]
    params: [featurize.max_features]
    outs: [data/features]
  train:
    cmd: python src/train.py
    deps: [data/features, src/train.py]
    params: [train.seed, train.n_est]
    outs: [model.pkl]
  evaluate:
    cmd: python src/evaluate.py
    deps: [data/features, model.pkl, src/evaluate.py]
    outs:
      - eval:
          cache: false
metrics:
  - eval/metrics.json
plots:
  - eval/plots/sklearn/roc.json:
      x: fpr
      y: tpr
""",
}


@pytest.mark.slow
def test_example_get_started_layout(dvc: TmpDir, tracking_uri: str, client: Any) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    dvc.gen(EXAMPLE_FILES)
    (dvc.path / "data").mkdir(exist_ok=True)
    frame.to_csv(dvc.path / "data" / "data.csv", index=False)
    dvc.dvc("add", "-q", "data/data.csv")
    dvc.commit("example")
    result = dvflow(dvc, "repro")
    assert "roc_auc=" in result.stdout  # the summary names the headline metrics
    runs = all_runs(client)
    (parent,) = [r for r in runs if r.data.tags[tags.KIND] == tags.KIND_PIPELINE]
    stages = _stage_runs(client, parent.info.run_id)
    assert set(stages) == {"prepare", "featurize", "train", "evaluate"}
    assert len(runs) == 5, "autolog's run was adopted, no stray run"
    train = stages["train"]
    assert train.data.params["n_estimators"] == "20"  # from autolog
    assert train.data.params["train.n_est"] == "20"  # from dvflow
    assert "training_accuracy_score" in train.data.metrics
    evaluate = stages["evaluate"]
    assert 0.5 < parent.data.metrics["roc_auc"] <= 1.0
    assert "dvc.out.eval" in evaluate.data.tags
    prepared = stages["prepare"].data.tags["dvc.out.data/prepared"]
    assert prepared.endswith(".dir")
    assert stages["featurize"].data.tags["dvc.dep.data/prepared"] == prepared

"""The throw-away projects the cases run on, built once per suite in its temporary folder.

Every project is a git + DVC repository whose pipeline was reproduced once by plain
``dvc repro`` and committed: a clean tree, as a user's would be before ``--force``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from harness import Runner

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
       "-c", "commit.gpgsign=false"]  # fmt: skip

# The two-stage pipeline (numpy prepares a split, scikit-learn fits a model): the
# "2-stage pipeline" of the orientation figures.
PARAMS = "prepare:\n  seed: 7\n  test_size: 0.2\ntrain:\n  C: 0.5\n  max_iter: 200\n"
TWO_STAGES = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    params: [prepare]
    outs: [data/processed.npz]
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/processed.npz]
    params: [train]
    metrics:
      - metrics.json:
          cache: false
"""
PREPARE = """\
import numpy as np
import yaml

params = yaml.safe_load(open("params.yaml"))["prepare"]
data = np.loadtxt("data/raw.csv", delimiter=",", skiprows=1)
x, y = data[:, :-1], data[:, -1].astype(int)
x = (x - x.mean(axis=0)) / x.std(axis=0)
order = np.random.default_rng(params["seed"]).permutation(len(y))
cut = int(len(y) * (1 - params["test_size"]))
np.savez("data/processed.npz", x_train=x[order[:cut]], y_train=y[order[:cut]],
         x_test=x[order[cut:]], y_test=y[order[cut:]])
"""
TRAIN = """\
import json

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

params = yaml.safe_load(open("params.yaml"))["train"]
data = np.load("data/processed.npz")
model = LogisticRegression(C=params["C"], max_iter=params["max_iter"])
model.fit(data["x_train"], data["y_train"])
accuracy = float(model.score(data["x_test"], data["y_test"]))
json.dump({"accuracy": accuracy}, open("metrics.json", "w"))
"""
# The glue people write by hand today: each stage script opens its own MLflow run.
GLUE = """
import mlflow

mlflow.set_tracking_uri("sqlite:///{db}")
with mlflow.start_run(run_name="{stage}"):
    mlflow.log_params(params)
    mlflow.log_metric("{metric}", {value})
"""
# A DVCLive-style step series: what a training loop writes, one row per step.
HISTORY = """\
import sys

points = int(sys.argv[1])
with open("dvclive/plots/metrics/loss.tsv", "w") as out:
    out.write("step\\tloss\\n")
    out.writelines(f"{{i}}\\t{{1.0 / (i + 1):.6f}}\\n" for i in range(points))
"""


class Lab:
    """The suite's projects under ``root``, each built on first use."""

    def __init__(self, root: Path, runner: Runner, rows: int) -> None:
        self.root = root
        self.runner = runner
        self.rows = rows

    def _init(self, name: str, files: dict[str, str]) -> Path:
        """A git + DVC repository holding ``files``."""
        root = self.root / name
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        setup = self.runner.setup
        setup([*GIT, "init", "-q"], root)
        setup(["dvc", "init", "-q"], root)
        setup(["dvc", "config", "core.analytics", "false"], root)
        return root

    def _commit_reproduced(self, root: Path) -> Path:
        """Commit, reproduce with plain DVC, commit dvc.lock and the outputs' .gitignore."""
        setup = self.runner.setup
        setup([*GIT, "add", "-A"], root)
        setup([*GIT, "commit", "-q", "-m", "pipeline"], root)
        setup(["dvc", "repro", "-q"], root)
        setup([*GIT, "add", "-A"], root)
        setup([*GIT, "commit", "-q", "-m", "dvc.lock"], root)
        return root

    @functools.cached_property
    def raw_csv(self) -> str:
        """``rows`` rows of four features and a label that depends on them (with noise)."""
        rng = np.random.default_rng(0)
        x = rng.normal(size=(self.rows, 4))
        y = (x @ np.array([1.5, -2.0, 0.7, 0.0]) + rng.normal(size=self.rows) > 0).astype(int)
        lines = ["f1,f2,f3,f4,label"]
        lines += [
            f"{a:.6f},{b:.6f},{c:.6f},{d:.6f},{t}" for (a, b, c, d), t in zip(x, y, strict=True)
        ]
        return "\n".join(lines) + "\n"

    def _two_stage(self, name: str, handwritten: bool) -> Path:
        prepare, train, ignore = PREPARE, TRAIN, ""
        if handwritten:
            db = (self.root / name / "mlflow.db").resolve()
            prepare += GLUE.format(db=db, stage="prepare", metric="rows", value="len(y)")
            train += GLUE.format(db=db, stage="train", metric="accuracy", value="accuracy")
            ignore = "mlflow.db\nmlruns/\n"
        root = self._init(
            name,
            {
                "data/raw.csv": self.raw_csv,
                "params.yaml": PARAMS,
                "dvc.yaml": TWO_STAGES,
                "src/prepare.py": prepare,
                "src/train.py": train,
                ".gitignore": ignore,
            },
        )
        self.runner.setup(["dvc", "add", "-q", "data/raw.csv"], root)
        return self._commit_reproduced(root)

    @functools.cached_property
    def plain(self) -> Path:
        """The two-stage pipeline; its scripts know nothing of MLflow."""
        return self._two_stage("plain", handwritten=False)

    @functools.cached_property
    def handwritten(self) -> Path:
        """The same pipeline, each stage script logging to MLflow (SQLite) itself."""
        return self._two_stage("handwritten", handwritten=True)

    def many_stages(self, count: int) -> Path:
        """``count`` independent trivial stages, each writing one small output."""
        stages = "".join(
            f"  s{i:03d}:\n    cmd: echo {i} > out/s{i:03d}.txt\n    outs: [out/s{i:03d}.txt]\n"
            for i in range(count)
        )
        root = self._init(f"stages-{count}", {"dvc.yaml": f"stages:\n{stages}", "out/.keep": ""})
        return self._commit_reproduced(root)

    def dataset(self, name: str, size: int) -> Path:
        """A ``size``-byte random file tracked with ``dvc add`` (DVC hashes it here,
        once), and one stage that depends on it without reading it."""
        root = self._init(
            name,
            {
                "dvc.yaml": (
                    "stages:\n  lineage:\n    cmd: echo done > result.txt\n"
                    "    deps: [data/big.bin]\n    outs: [result.txt]\n"
                ),
            },
        )
        chunk = 1 << 20
        (root / "data").mkdir()
        with (root / "data" / "big.bin").open("wb") as out:
            for offset in range(0, size, chunk):
                out.write(os.urandom(min(chunk, size - offset)))
        self.runner.setup(["dvc", "add", "-q", "data/big.bin"], root)
        return self._commit_reproduced(root)

    def history(self, points: int) -> Path:
        """One stage writing a DVCLive-style TSV of ``points`` steps, declared a plot."""
        root = self._init(
            "history",
            {
                "write_history.py": HISTORY.format(),
                "dvclive/plots/metrics/.keep": "",
                "dvc.yaml": (
                    "stages:\n  train:\n"
                    f"    cmd: python write_history.py {points}\n"
                    "    deps: [write_history.py]\n"
                    "    plots:\n      - dvclive/plots/metrics/loss.tsv:\n"
                    "          x: step\n          cache: false\n"
                ),
            },
        )
        return self._commit_reproduced(root)

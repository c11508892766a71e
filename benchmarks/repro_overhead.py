"""Measure what ``dvflow repro`` costs over plain ``dvc repro``, side by side in one run.

Two throw-away DVC projects are built in a temporary folder, with the same two-stage
pipeline (``prepare``: numpy reads a 50k-row CSV and writes a standardized split;
``train``: scikit-learn fits a LogisticRegression and writes ``metrics.json``):

- ``plain``: the stage scripts know nothing about MLflow; dvflow records them.
- ``handwritten``: each stage script opens its own MLflow run and logs its params and
  a metric, the glue people write by hand today; run with plain ``dvc repro``.

Both are reproduced once and committed (a clean tree), then each variant is warmed up
once, untimed (that creates both SQLite stores, so no schema migration is timed). Then,
for ``--rounds`` rounds, interleaved so that machine noise hits every command alike, the
wall-clock time of each command is measured:

  dvc -f        ``dvc repro -f`` on plain (the baseline)
  dvflow -f     ``dvflow repro -f`` on plain
  hand -f       ``dvc repro -f`` on handwritten
  dvc no-op     ``dvc repro`` on plain, nothing to do
  dvflow no-op  ``dvflow repro`` on plain, nothing to do

How to read the ratios (medians): ``dvflow -f / dvc -f`` is what recording every stage
costs (goal <= 1.10); ``hand -f / dvc -f`` is what the hand-written glue costs, for
reference; ``dvflow no-op / dvc no-op`` is what an up-to-date pipeline costs (goal
<= 1.20). Above 1.00 is overhead. Finally the plain project's store is read back with
``MlflowClient`` to prove that every timed dvflow run was recorded (a parent run plus
one run per stage).

Exit code: 0 whatever the ratios (this is a measurement, not a test); 1 if a command
failed or dvflow's runs are missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS = 50_000
PARAMS = "prepare:\n  seed: 7\n  test_size: 0.2\ntrain:\n  C: 0.5\n  max_iter: 200\n"
DVC_YAML = """\
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
GLUE = """
import mlflow

mlflow.set_tracking_uri("sqlite:///{db}")
with mlflow.start_run(run_name="{stage}"):
    mlflow.log_params(params)
    mlflow.log_metric("{metric}", {value})
"""
COMMANDS = ["dvc -f", "dvflow -f", "hand -f", "dvc no-op", "dvflow no-op"]


def clean_env(bin_dir: Path) -> dict[str, str]:
    """This environment, minus anything that would redirect MLflow, DVC or git."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVFLOW_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], quiet: bool = True) -> float:
    """Run ``cmd``, fail loudly on a non-zero exit, return its wall-clock seconds."""
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=out, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        detail = f"\n{proc.stdout}\n{proc.stderr}" if not quiet else ""
        raise RuntimeError(f"{' '.join(cmd)} in {cwd} exited {proc.returncode}{detail}")
    return elapsed


def make_project(root: Path, raw: str, env: dict[str, str], handwritten: bool) -> None:
    """A git + DVC project with the two-stage pipeline, reproduced once and committed."""
    (root / "src").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text(raw)
    (root / "params.yaml").write_text(PARAMS)
    (root / "dvc.yaml").write_text(DVC_YAML)
    prepare, train = PREPARE, TRAIN
    if handwritten:
        db = (root / "mlflow.db").resolve()
        prepare += GLUE.format(db=db, stage="prepare", metric="rows", value="len(y)")
        train += GLUE.format(db=db, stage="train", metric="accuracy", value="accuracy")
        (root / ".gitignore").write_text("mlflow.db\nmlruns/\n")
    (root / "src" / "prepare.py").write_text(prepare)
    (root / "src" / "train.py").write_text(train)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
           "-c", "commit.gpgsign=false"]  # fmt: skip
    for cmd in (
        [*git, "init", "-q"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        ["dvc", "add", "-q", "data/raw.csv"],
        [*git, "add", "-A"],
        [*git, "commit", "-q", "-m", "pipeline"],
        ["dvc", "repro", "-q"],  # dvc.lock and outputs, committed: a clean tree
        [*git, "add", "-A"],
        [*git, "commit", "-q", "-m", "dvc.lock"],
    ):
        run(cmd, root, env, quiet=False)


def raw_csv(rows: int) -> str:
    """``rows`` rows of four features and a label that depends on them (with noise)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    y = (x @ np.array([1.5, -2.0, 0.7, 0.0]) + rng.normal(size=rows) > 0).astype(int)
    lines = ["f1,f2,f3,f4,label"]
    lines += [f"{a:.6f},{b:.6f},{c:.6f},{d:.6f},{t}" for (a, b, c, d), t in zip(x, y, strict=True)]
    return "\n".join(lines) + "\n"


def count_runs(db: Path) -> dict[str, int]:
    """FINISHED dvflow runs in the store at ``db``, by ``dvflow.kind``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    ids = [e.experiment_id for e in client.search_experiments()]
    counts = {}
    for kind in ("pipeline", "stage"):
        runs = client.search_runs(
            ids, f"tags.`dvflow.kind` = '{kind}' and attributes.status = 'FINISHED'",
            max_results=1000,
        )  # fmt: skip
        counts[kind] = len(runs)
    return counts


def ratio_line(label: str, num: float, den: float, goal: float | None) -> str:
    """One ratio of medians, with whether it meets its goal (if it has one)."""
    ratio = num / den
    if goal is None:
        return f"  {label:<28} {ratio:6.3f}"
    verdict = "MET" if ratio <= goal else "NOT MET"
    return f"  {label:<28} {ratio:6.3f}  goal <= {goal:.2f}: {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--rows",
        type=int,
        default=ROWS,
        help=f"rows of the raw CSV (default {ROWS}); about 400000 makes `dvc repro -f` take "
        "the 4 s of the reference pipeline the speed goals were set against",
    )
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    env = clean_env(bin_dir)
    for tool in ("dvc", "dvflow", "git"):
        if not shutil.which(tool, path=env["PATH"]):
            print(f"error: '{tool}' not found on PATH", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="dvflow-bench-") as tmp:
        plain, hand = Path(tmp, "plain").resolve(), Path(tmp, "handwritten").resolve()
        try:
            raw = raw_csv(args.rows)
            make_project(plain, raw, env, handwritten=False)
            make_project(hand, raw, env, handwritten=True)
            print(f"warming up (untimed) in {tmp} ...", flush=True)
            run(["dvc", "repro", "-f"], plain, env, quiet=False)
            run(["dvflow", "repro", "-f"], plain, env, quiet=False)
            run(["dvc", "repro", "-f"], hand, env, quiet=False)
            cases = {
                "dvc -f": (["dvc", "repro", "-f"], plain),
                "dvflow -f": (["dvflow", "repro", "-f"], plain),
                "hand -f": (["dvc", "repro", "-f"], hand),
                "dvc no-op": (["dvc", "repro"], plain),
                "dvflow no-op": (["dvflow", "repro"], plain),
            }
            times: dict[str, list[float]] = {name: [] for name in COMMANDS}
            for i in range(args.rounds):
                for name in COMMANDS:
                    cmd, cwd = cases[name]
                    times[name].append(run(cmd, cwd, env))
                print(f"round {i + 1}/{args.rounds} done", flush=True)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        med = {name: statistics.median(values) for name, values in times.items()}
        print(f"\n{'command':<14} {'median s':>9} {'min s':>8} {'max s':>8}   (n={args.rounds})")
        for name in COMMANDS:
            values = times[name]
            print(f"{name:<14} {med[name]:9.3f} {min(values):8.3f} {max(values):8.3f}")
        print("\nratios (medians):")
        print(ratio_line("dvflow -f / dvc -f", med["dvflow -f"], med["dvc -f"], 1.10))
        print(ratio_line("hand -f / dvc -f (reference)", med["hand -f"], med["dvc -f"], None))
        print(ratio_line("dvflow no-op / dvc no-op", med["dvflow no-op"], med["dvc no-op"], 1.20))
        counts = count_runs(plain / "mlflow.db")
        expected = args.rounds + 1  # the timed rounds plus the warm-up; no-ops record nothing
        print(
            f"\ndvflow runs in plain/mlflow.db: {counts['pipeline']} pipeline + "
            f"{counts['stage']} stage (expected {expected} + {2 * expected})"
        )
        if (counts["pipeline"], counts["stage"]) != (expected, 2 * expected):
            print("error: expected one run per stage and dvflow invocation", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

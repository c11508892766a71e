"""Measure what dvflow's MLflow run context provider adds to ``mlflow.start_run()``.

The provider (``dvflow.plugins.context.DvflowRunContext``) runs for every run any
script of the environment starts. Each case runs in a fresh Python process (so that
the first call pays for the imports, as a user's script does), in a throw-away folder:

  outside      a folder that is no DVC project (the provider must cost ~nothing)
  project      a committed git + DVC project (git reads commit, dirty, fingerprint)
  stage        the same, with ``DVC_STAGE`` set as ``dvc repro`` sets it
  stage+dvc    the same with ``DVFLOW_RUN_CONTEXT=dvc`` (imports DVC, data versions)

In each process, MLflow's own ``resolve_tags()`` (what ``start_run()`` calls to tag a
run) is timed with every provider, and with dvflow's left out (its ``ignore``
argument), alternately, ``--rounds`` times; the provider's own first call (its
imports, then git) is reported apart. Then real ``mlflow.start_run()`` calls on a SQLite
store are timed with and without the provider (``DVFLOW_RUN_CONTEXT=off``), alternately.

Run it with a Python where dvflow is installed (its entry points registered):
``python benchmarks/context_provider.py``. Exit code 0 whatever the figures (a
measurement, not a test); 1 if dvflow's provider is not registered.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
import mlflow
from mlflow.tracking.context import registry
providers = [type(p) for p in registry._run_context_provider_registry]
ours = [p for p in providers if p.__module__ == "dvflow.plugins.context"]
if not ours:
    print(json.dumps({"error": "dvflow's run context provider is not registered"}))
    sys.exit(1)
def timed(ignore):
    t = time.perf_counter(); registry.resolve_tags(ignore=ignore); return time.perf_counter() - t
t = time.perf_counter()
provider = ours[0]()
if provider.in_context():
    provider.tags()
first = time.perf_counter() - t  # the provider's own first call: its imports, then git
timed([])
rounds = int(sys.argv[1])
with_, without = [], []
for _ in range(rounds):
    without.append(timed(ours)); with_.append(timed([]))
tags = registry.resolve_tags()
mlflow.set_tracking_uri(sys.argv[2])
def start(off):
    if off: os.environ["DVFLOW_RUN_CONTEXT"] = "off"
    else: os.environ.pop("DVFLOW_RUN_CONTEXT", None)
    t = time.perf_counter()
    with mlflow.start_run(): pass
    return time.perf_counter() - t
start(True)  # creates the experiment, warms the store
runs_on, runs_off = [], []
for _ in range(max(3, rounds // 10)):
    runs_off.append(start(True)); runs_on.append(start(False))
print(json.dumps({"first": first, "with": with_, "without": without,
                  "run_on": runs_on, "run_off": runs_off,
                  "dvflow_tags": sorted(k for k in tags if k.startswith(("dvflow.", "dvc.")))}))
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _project(root: Path) -> Path:
    project = root / "project"
    project.mkdir()
    _git(project, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=project, check=True)
    (project / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
    )
    (project / "train.py").write_text("print('train')\n")
    _git(project, "add", "-A")
    _git(project, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init")
    return project


def _probe(cwd: Path, rounds: int, store: str, **extra: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "DVFLOW_"))}
    environ.update(extra)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(rounds), store],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(out.stdout, out.stderr, file=sys.stderr)
        raise SystemExit(1)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _ms(values: object) -> float:
    assert isinstance(values, list)
    return statistics.median(values) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dvflow-bench-") as tmp:
        root = Path(tmp)
        outside = root / "outside"
        outside.mkdir()
        project = _project(root)
        store = f"sqlite:///{root / 'mlflow.db'}"
        cases = {
            "outside": (outside, {}),
            "project": (project, {}),
            "stage": (project, {"DVC_STAGE": "train", "DVC_ROOT": str(project)}),
            "stage+dvc": (
                project,
                {"DVC_STAGE": "train", "DVC_ROOT": str(project), "DVFLOW_RUN_CONTEXT": "dvc"},
            ),
        }
        print(
            f"{'case':<10} {'first call':>11} {'resolve_tags +':>15} "
            f"{'start_run on':>13} {'start_run off':>14}  tags"
        )
        for name, (cwd, extra) in cases.items():
            found = _probe(cwd, args.rounds, store, **extra)
            added = _ms(found["with"]) - _ms(found["without"])
            first = float(found["first"]) * 1000  # type: ignore[arg-type]
            print(
                f"{name:<10} {first:>9.1f}ms {added:>13.2f}ms {_ms(found['run_on']):>11.1f}ms "
                f"{_ms(found['run_off']):>12.1f}ms  {len(found['dvflow_tags'])}"  # type: ignore[arg-type]
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

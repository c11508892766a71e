"""A SQLite store locked for seconds by another process (a backup, `sqlite3` open in a
shell, another tool's long transaction) while `dvflow repro` runs: every stage is
recorded, no run is left RUNNING, the user is told what was delayed, exit 0.

Longer than SQLite's default busy timeout (5 s), which once made a stage script's
`dvflow.start_run()` fail the stage: "not a usable SQLite database (database is locked)".
"""

import time
from pathlib import Path
from typing import Any

import pytest

from dvflow.recorder.rendezvous import JOIN_TIMEOUT_S
from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes

LOCK_SECONDS = 12

# Holds an exclusive lock on the store: no other connection may read or write it.
LOCKER = """\
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").write("locked")
time.sleep(float(sys.argv[3]))
connection.execute("COMMIT")
open(sys.argv[2], "w").write("released")
"""

# Stage a starts the locker and ends as soon as the store is locked: the recorder
# writes a's run, and stage b (the in-script API) starts its own, while it is locked.
STAGE_A = """\
import subprocess, sys, time
from pathlib import Path
marker = Path({marker!r})
subprocess.Popen(
    [sys.executable, {locker!r}, {db!r}, str(marker), "{seconds}"], start_new_session=True
)
while not marker.exists():
    time.sleep(0.05)
open("a.txt", "w").write("a")
"""

STAGE_B = """\
import dvflow
with dvflow.start_run():
    dvflow.log_metrics({"loss": 0.5})
open("b.txt", "w").write("b")
"""

PIPELINE = """\
stages:
  a:
    cmd: python a.py
    deps: [a.py]
    outs: [a.txt]
  b:
    cmd: python b.py
    deps: [b.py, a.txt]
    outs: [b.txt]
  c:
    cmd: python -c "open('c.txt', 'w').write('c')"
    deps: [b.txt]
    outs: [c.txt]
"""


def test_a_store_locked_for_seconds_loses_nothing(
    dvc: TmpDir, tracking_uri: str, client: Any, tmp_path: Path
) -> None:
    db = tracking_uri.removeprefix("sqlite:///")
    locker, marker = tmp_path / "locker.py", tmp_path / "locked.txt"
    locker.write_text(LOCKER)
    dvc.gen(
        {
            "a.py": STAGE_A.format(
                marker=str(marker), locker=str(locker), db=db, seconds=LOCK_SECONDS
            ),
            "b.py": STAGE_B,
            "dvc.yaml": PIPELINE,
        }
    )
    dvc.commit("pipeline")
    started = time.monotonic()
    result = dvflow(dvc, "repro", check=False)
    print(result.stdout, result.stderr, sep="\n")
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "released"  # the lock was held, and let go
    assert "Traceback" not in result.stderr and "database is locked" not in result.stderr
    runs = all_runs(client)
    stages = {r.info.run_name: r for r in runs if r.data.tags[tags.KIND] == tags.KIND_STAGE}
    parents = [r for r in runs if r.data.tags[tags.KIND] == tags.KIND_PIPELINE]
    assert sorted(stages) == ["a", "b", "c"] and len(parents) == 1
    assert all(r.info.status == "FINISHED" for r in runs), [r.info.status for r in runs]
    assert stages["b"].data.metrics == {"loss": 0.5}
    # Stage b's script did not wait out the rendezvous for a recorder that had exited
    # (it could not open the locked store): it once ran for a minute.
    assert float(stages["b"].data.tags[tags.STAGE_DURATION]) < JOIN_TIMEOUT_S / 2
    # What the lock delayed is said, with what became of it.
    told = [line for line in result.stderr.splitlines() if line.startswith("dvflow: warning")]
    assert all("locked" in line and "every run was written again" in line for line in told)
    assert all(r.data.tags[tags.PARENT_RUN_ID] == parents[0].info.run_id for r in stages.values())
    print(f"locked {LOCK_SECONDS} s; repro took {time.monotonic() - started:.0f} s")

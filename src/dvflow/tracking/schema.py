"""The tag schema every dvflow run carries (documented in docs/tag-schema.md).

Runs recorded with these names are read back by tools built on them (and by
``compare.py``); change a name only with a migration of the runs already recorded.
"""

from __future__ import annotations

# MLflow's own names, set by dvflow for every run it creates.
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_GIT_DIRTY = "mlflow.source.git.dirty"
USER = "mlflow.user"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
SOURCE_TYPE_LOCAL = "LOCAL"
PARENT_RUN_ID = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"

# The code state that MADE the run (read before DVC ran anything).
GIT_DIRTY = "dvflow.git.dirty"
FINGERPRINT = "dvflow.fingerprint"
# The code state the run LEFT: the tree with the dvc.lock and outputs it wrote, the one
# the user commits. `dvflow repro` runs only.
RESULT_FINGERPRINT = "dvflow.result.fingerprint"
RESULT_DIRTY = "dvflow.result.dirty"
KIND = "dvflow.kind"
KIND_PIPELINE = "pipeline"
KIND_STAGE = "stage"
KIND_SCRIPT = "script"
VERSION = "dvflow.version"
INVOCATION = "dvflow.invocation"
STAGE_STATUS = "dvflow.stage.status"
STAGE_DURATION = "dvflow.stage.duration_s"
STAGE_EXIT_CODE = "dvflow.stage.exit_code"
LONG_PARAMS = "dvflow.params.overflow"
# A metric logged under another name than MLflow refused: `dvflow.metric_name.<logged>`
# = the original name; metrics that could not be logged at all are in an artifact.
METRIC_NAME_PREFIX = "dvflow.metric_name."
METRICS_OVERFLOW = "dvflow.metrics.overflow"
# The commit that records exactly the state a run left, set by `dvflow commit` on runs
# made from a dirty tree (their own commit tag stays: it is history).
BOUND_COMMIT = "dvflow.git.bound_commit"
# `dvflow repro` runs: `host:pid:start-time` of the dvflow process that records them; a
# run left RUNNING by a process that is gone is closed KILLED with ABANDONED=true.
PROCESS = "dvflow.process"
ABANDONED = "dvflow.abandoned"
# A run copied by `dvflow sync` from the local store stage scripts wrote to offline:
# the original run's id, so that a second sync completes it instead of copying it again.
SPOOL_ID = "dvflow.spool.id"

DVC_STAGE = "dvc.stage"
DVC_EXP_NAME = "dvc.exp.name"
DVC_EXP_BASELINE = "dvc.exp.baseline"
# `dvflow exp sync`: the experiment's git ref (refs/exps/...), its state as `dvc exp show`
# gives it, and the key that finds its run again (one run per experiment or commit).
DVC_EXP_REF = "dvc.exp.ref"
EXP_STATE = "dvflow.exp.state"
SYNC_KEY = "dvflow.sync.key"
KIND_EXPERIMENT = "experiment"
KIND_COMMIT = "commit"
DVC_DEP_PREFIX = "dvc.dep."
DVC_OUT_PREFIX = "dvc.out."

# Where the snapshot's files go among a run's artifacts.
ARTIFACT_DIR = "dvflow"
SNAPSHOT_ARTIFACT = "snapshot.json"
ENVIRONMENT_ARTIFACT = "environment.json"
DIFF_ARTIFACT = "git.diff"
OVERFLOW_ARTIFACT_DIR = "params_overflow"

# `dvflow reproduce`: the run it re-made, and whether it got the same outputs and metrics.
REPRODUCES = "dvflow.reproduces"
REPRODUCED = "dvflow.reproduced"

METRICS_OVERFLOW_ARTIFACT_DIR = "metrics_overflow"

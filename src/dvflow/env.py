"""Every environment variable dvflow reads or sets, named once.

dvflow honours the tools' own variables first (MLflow's and DVC's), then its own
``DVFLOW_*`` ones. Nothing else in the package spells a variable name.
"""

from __future__ import annotations

# MLflow's own variables.
MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
MLFLOW_EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
MLFLOW_EXPERIMENT_ID = "MLFLOW_EXPERIMENT_ID"
MLFLOW_RUN_ID = "MLFLOW_RUN_ID"
# JSON of tags that MLflow adds to every run a process creates with start_run().
MLFLOW_RUN_CONTEXT = "MLFLOW_RUN_CONTEXT"
# How MLflow's client reaches a tracking server (mlflow/utils/credentials.py); dvflow's
# own calls to the server honour them the same way (tracking/store.py).
MLFLOW_TRACKING_INSECURE_TLS = "MLFLOW_TRACKING_INSECURE_TLS"
MLFLOW_TRACKING_SERVER_CERT_PATH = "MLFLOW_TRACKING_SERVER_CERT_PATH"
MLFLOW_TRACKING_CLIENT_CERT_PATH = "MLFLOW_TRACKING_CLIENT_CERT_PATH"
MLFLOW_TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME"
MLFLOW_TRACKING_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
MLFLOW_TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"
# Read by requests itself (MLflow's HTTP client, and dvflow's) when TLS is verified
# without MLFLOW_TRACKING_SERVER_CERT_PATH: a corporate CA bundle.
REQUESTS_CA_BUNDLE = "REQUESTS_CA_BUNDLE"
# MLflow's server starts a job runner process unless this is "false".
MLFLOW_SERVER_ENABLE_JOB_EXECUTION = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"

# DVC's own variables: set by DVC for every stage command it runs.
DVC_ROOT = "DVC_ROOT"
DVC_STAGE = "DVC_STAGE"
# Set only under `dvc exp run`.
DVC_EXP_NAME = "DVC_EXP_NAME"
DVC_EXP_BASELINE_REV = "DVC_EXP_BASELINE_REV"

DVC_CONTEXT_VARIABLES = (DVC_ROOT, DVC_STAGE, DVC_EXP_NAME, DVC_EXP_BASELINE_REV)

# dvflow's own variables. DVFLOW_EXPERIMENT wins over MLFLOW_EXPERIMENT_NAME (a tool's
# own variable over the generic one).
DVFLOW_EXPERIMENT = "DVFLOW_EXPERIMENT"
# Set by `dvflow -q` for its own helper processes (the recorder): log only errors.
DVFLOW_QUIET = "DVFLOW_QUIET"
# "true": `dvflow repro` logs system metrics into each running stage's run (beats the
# `system_metrics` setting of the config files).
DVFLOW_SYSTEM_METRICS = "DVFLOW_SYSTEM_METRICS"
# Under `dvflow repro`, given to a stage's command: the file where the recorder writes
# the stage's run id, and the recorder's pid (recorder/rendezvous.py).
DVFLOW_STAGE_RUN_FILE = "DVFLOW_STAGE_RUN_FILE"
DVFLOW_RECORDER_PID = "DVFLOW_RECORDER_PID"
# A token naming one `dvflow repro` invocation, so its stage runs can be found again.
DVFLOW_INVOCATION = "DVFLOW_INVOCATION"
# MLflow's run context provider (dvflow.plugins.context), for every mlflow.start_run()
# inside a DVC project: "off" disables it; "dvc" also imports DVC to read the stage's
# data versions and to take the outputs DVC rewrites as committed. Default: code tags
# only (git), DVC never imported.
DVFLOW_RUN_CONTEXT = "DVFLOW_RUN_CONTEXT"
RUN_CONTEXT_OFF = "off"
RUN_CONTEXT_DVC = "dvc"

"""Checks of the MLflow store: reachable with MLflow's own client (its TLS and
credential variables honoured), and the experiment not deleted."""

from __future__ import annotations

from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check
from dvflow.errors import DvflowError, one_line
from dvflow.tracking.store import check_reachable, display_uri, sqlite_path


@check("mlflow.store", "the MLflow store reachable")
def store(context: Context) -> list[Problem]:
    uri = context.workspace.tracking_uri
    shown = display_uri(uri)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        return [Problem(f"{shown} is created by the first 'dvflow repro'", shown, None, "info")]
    try:
        check_reachable(uri)  # fails in seconds, where MLflow's client retries for minutes
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        # MLflow's client reads MLFLOW_TRACKING_TOKEN, _USERNAME/_PASSWORD,
        # _SERVER_CERT_PATH, _CLIENT_CERT_PATH and _INSECURE_TLS itself.
        client.search_experiments(max_results=1)
    except DvflowError as exc:
        return [Problem(exc.message, shown, None, "fail")]
    except Exception as exc:  # refused credentials, TLS, a broken database
        return [
            Problem(
                f"MLflow cannot use {shown}: {one_line(exc)}",
                shown,
                "check MLFLOW_TRACKING_URI and MLflow's credential variables "
                "(MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD, "
                "MLFLOW_TRACKING_SERVER_CERT_PATH)",
                "fail",
            )
        ]
    context.mlflow_client = client
    return []


@check("mlflow.experiment", "the experiment not deleted")
def experiment(context: Context) -> list[Problem]:
    name = context.workspace.experiment
    client = context.mlflow_client
    if client is None:
        return []  # no store yet, or the store check failed (it says why)
    found = client.get_experiment_by_name(name)
    if found is None:
        return [Problem(f"experiment '{name}' is created by the first run", name, None, "info")]
    if found.lifecycle_stage == "deleted":
        return [
            Problem(
                f"experiment '{name}' is deleted: runs cannot be recorded into it",
                name,
                f"mlflow experiments restore --experiment-id {found.experiment_id} "
                "(or pick another name in .dvflow/config.yaml)",
                "fail",
            )
        ]
    return []

"""Writing a snapshot into an MLflow run: tags, params, dataset inputs and artifacts.

Everything goes through ``MlflowClient`` batch calls: one call per 100 params or tags,
not one per item. MLflow's limits are read at run time; what does not fit (a value too
long for a param, a key MLflow refuses, a param that already has another value in this
run) is kept in an artifact, with a tag that points to it.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow import __version__
from dvflow.errors import DvflowWarning
from dvflow.snapshot import Snapshot
from dvflow.snapshot.redact import redact_data, redact_text, secret_values
from dvflow.tracking import schema as tags

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from dvflow.snapshot.code import CodeVersion
    from dvflow.snapshot.data import DataVersion


def data_tag(version: DataVersion) -> str:
    """The tag name of a data version: ``dvc.dep.<path>`` or ``dvc.out.<path>``."""
    prefix = tags.DVC_OUT_PREFIX if version.role == "out" else tags.DVC_DEP_PREFIX
    return prefix + version.path


def code_tags(code: CodeVersion | None) -> dict[str, str]:
    """The git tags of the schema: commit, branch, remote, dirty state, fingerprint."""
    found: dict[str, str] = {tags.VERSION: __version__}
    if code is not None:
        found[tags.GIT_DIRTY] = found[tags.MLFLOW_GIT_DIRTY] = "true" if code.dirty else "false"
        found[tags.FINGERPRINT] = code.fingerprint
        if code.commit:
            found[tags.GIT_COMMIT] = code.commit
        if code.branch:
            found[tags.GIT_BRANCH] = code.branch
        if code.remote_url:
            found[tags.GIT_REPO_URL] = code.remote_url
    return found


def result_tags(code: CodeVersion | None) -> dict[str, str]:
    """The code state a ``dvflow repro`` invocation left: the tree to commit."""
    if code is None:
        return {}
    return {
        tags.RESULT_FINGERPRINT: code.fingerprint,
        tags.RESULT_DIRTY: "true" if code.dirty else "false",
    }


def context_tags(source_name: str, user: str | None) -> dict[str, str]:
    """MLflow's own context tags, as ``mlflow.start_run()`` sets them for a local run."""
    found = {tags.SOURCE_NAME: source_name, tags.SOURCE_TYPE: tags.SOURCE_TYPE_LOCAL}
    if user:
        found[tags.USER] = user
    return found


def snapshot_tags(snapshot: Snapshot, kind: str) -> dict[str, str]:
    """The tags of the schema for ``snapshot`` (without the data-version tags)."""
    found = {**code_tags(snapshot.code), tags.KIND: kind}
    stage = snapshot.stage or snapshot.dvc.stage
    if stage and kind == tags.KIND_STAGE:
        found[tags.DVC_STAGE] = stage
    if snapshot.dvc.exp_name:
        found[tags.DVC_EXP_NAME] = snapshot.dvc.exp_name
    if snapshot.dvc.exp_baseline:
        found[tags.DVC_EXP_BASELINE] = snapshot.dvc.exp_baseline
    return found


def data_tags(versions: list[DataVersion]) -> dict[str, str]:
    """``dvc.dep.<path>`` / ``dvc.out.<path>`` tags: the DVC hash of each path."""
    return {data_tag(v): v.hash for v in versions if v.hash}


def _param_value(value: Any, secrets: tuple[str, ...]) -> str:
    # As MLflow's own log_param does: a script logging the same value must not conflict.
    # A credential inside a value (a URL's password, a secret variable's value) is not.
    return redact_text(str(value), secrets)


# Characters MLflow refuses in a name (MLflow's validation: letters, digits, `_`,
# `-`, `.`, space, `/` and, outside Windows, `:`).
_REFUSED_IN_NAME = re.compile(r"[^\w\-. /:]+")


def metric_name(name: str) -> str:
    """The name a metric is logged under: ``name`` itself when MLflow accepts it, else
    each run of refused characters replaced by ``_`` (none at either end) and empty or
    relative path parts dropped (docs/tag-schema.md).

    >>> metric_name("precision@5"), metric_name("f1(macro)"), metric_name("acc")
    ('precision_5', 'f1_macro', 'acc')
    """
    from dvflow.integrations.mlflow_internals import is_valid_key

    if is_valid_key(name):
        return name
    parts = _REFUSED_IN_NAME.sub("_", name).strip("_").split("/")
    return "/".join(part for part in parts if part not in ("", ".", ".."))


def log_metrics(
    client: MlflowClient, run_id: str, metrics: list[Metric], *, sqlite_db: Path | None = None
) -> dict[str, str]:
    """Log ``metrics`` in batches; return the renamed ones (logged name -> name).

    ``sqlite_db``: the database of the client's store when it is SQLite. A history of
    more than one batch is then written in one transaction (``mlflow_schema.
    insert_metric_history``: 100,000 points in a fraction of a second, where MLflow's
    ``log_batch`` takes 8 s), falling back to ``log_batch`` where that cannot write.

    A name MLflow refuses is logged under ``metric_name(name)``, and the run gets the
    tag ``dvflow.metric_name.<logged name>`` = the original name. A name that cannot be
    mapped (nothing left, too long, or the mapped name is another metric's) goes with
    its values to the artifact ``dvflow/metrics_overflow/<time>.json``, named by the tag
    ``dvflow.metrics.overflow``: one odd name never costs the other metrics.
    """
    from mlflow.entities import Metric, RunTag

    from dvflow.integrations.mlflow_internals import MAX_METRICS_PER_BATCH, is_valid_key

    originals = {m.key for m in metrics}
    names: dict[str, str | None] = {}  # original -> logged (None: overflow)
    taken: dict[str, str] = {}  # logged -> original
    for key in sorted(originals, key=lambda k: (not is_valid_key(k), k)):
        mapped = metric_name(key)
        tag = f"{tags.METRIC_NAME_PREFIX}{mapped}"
        if mapped != key and (
            not mapped or mapped in originals or mapped in taken or not is_valid_key(tag)
        ):
            names[key] = None
        else:
            names[key] = mapped
            taken[mapped] = key
    logged = [
        Metric(name, m.value, m.timestamp, m.step)
        for m in metrics
        if (name := names[m.key]) is not None
    ]
    renamed = {new: old for new, old in taken.items() if new != old}
    batch_tags = [RunTag(f"{tags.METRIC_NAME_PREFIX}{new}", old) for new, old in renamed.items()]
    overflow: dict[str, list[list[float]]] = {}
    for m in metrics:
        if names[m.key] is None:
            overflow.setdefault(m.key, []).append([m.step, m.value, m.timestamp])
    if overflow:
        folder = f"{tags.ARTIFACT_DIR}/{tags.METRICS_OVERFLOW_ARTIFACT_DIR}"
        client.log_text(run_id, json.dumps(overflow, indent=2), f"{folder}/{time.time_ns()}.json")
        batch_tags.append(RunTag(tags.METRICS_OVERFLOW, f"{folder}/"))
    if batch_tags:
        client.log_batch(run_id, tags=batch_tags, synchronous=True)
    if sqlite_db is not None and len(logged) > MAX_METRICS_PER_BATCH:
        from dvflow.integrations.mlflow_schema import insert_metric_history
        from dvflow.tracking.store import SQLITE_BUSY_TIMEOUT_S

        points = [(m.key, m.value, m.timestamp, m.step) for m in logged]
        if insert_metric_history(sqlite_db, run_id, points, timeout=SQLITE_BUSY_TIMEOUT_S):
            return renamed
    for start in range(0, len(logged), MAX_METRICS_PER_BATCH):
        client.log_batch(
            run_id, metrics=logged[start : start + MAX_METRICS_PER_BATCH], synchronous=True
        )
    return renamed


def log_tags_and_params(
    client: MlflowClient,
    run_id: str,
    tag_values: dict[str, str],
    params: dict[str, Any],
) -> dict[str, str]:
    """Log tags and params in batches; return what did not fit (key -> value).

    Params already logged in this run with the same value are skipped; with another
    value they cannot change, so the new value goes to the overflow with a warning.
    What did not fit is uploaded as ``dvflow/params_overflow/<time>.json``, and the tag
    ``dvflow.params.overflow`` names that folder.
    """
    from mlflow.entities import Param, RunTag

    from dvflow.integrations.mlflow_internals import (
        MAX_PARAM_VAL_LENGTH,
        MAX_PARAMS_TAGS_PER_BATCH,
        MAX_TAG_VAL_LENGTH,
        is_valid_key,
    )

    existing = client.get_run(run_id).data.params
    overflow: dict[str, str] = {}
    batch_params: list[Param] = []
    secrets = secret_values()
    for key, raw in params.items():
        value = _param_value(raw, secrets)
        if existing.get(key) == value:
            continue
        if key in existing:
            warnings.warn(
                f"param '{key}' is already {existing[key]!r} in run {run_id}; MLflow cannot "
                f"change a param, so {value!r} is kept in {tags.ARTIFACT_DIR}/"
                f"{tags.OVERFLOW_ARTIFACT_DIR}/",
                DvflowWarning,
                stacklevel=2,
            )
            overflow[key] = value
        elif not is_valid_key(key) or len(value) > MAX_PARAM_VAL_LENGTH:
            overflow[key] = value
        else:
            batch_params.append(Param(key, value))
    batch_tags = []
    for key, value in tag_values.items():
        if is_valid_key(key) and len(value) <= MAX_TAG_VAL_LENGTH:
            batch_tags.append(RunTag(key, value))
        else:
            overflow[f"tag:{key}"] = value
    if overflow:
        folder = f"{tags.ARTIFACT_DIR}/{tags.OVERFLOW_ARTIFACT_DIR}"
        client.log_text(run_id, json.dumps(overflow, indent=2), f"{folder}/{time.time_ns()}.json")
        batch_tags.append(RunTag(tags.LONG_PARAMS, f"{folder}/"))
    items: list[Param | RunTag] = [*batch_params, *batch_tags]
    for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
        chunk = items[start : start + MAX_PARAMS_TAGS_PER_BATCH]
        client.log_batch(
            run_id,
            params=[p for p in chunk if isinstance(p, Param)],
            tags=[t for t in chunk if isinstance(t, RunTag)],
            synchronous=True,
        )
    return overflow


def log_data_inputs(
    client: MlflowClient,
    run_id: str,
    versions: list[DataVersion],
    code: CodeVersion | None = None,
) -> None:
    """Record each DVC-tracked data version as an MLflow dataset input (digest = the DVC
    hash), so that MLflow's UI lists them in its Datasets column. Source files a stage
    depends on are code, not data: they stay tags (``dvc.dep.<path>``).

    The source (type ``dvc``, resolved by ``dvflow.plugins.source``) names the path, the
    hash, and with ``code`` the repository and the commit, for ``load()`` to fetch it.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from dvflow.integrations.mlflow_internals import (
        MAX_DATASET_DIGEST_SIZE,
        MAX_DATASETS_PER_BATCH,
    )

    inputs = []
    for v in versions:
        if not v.hash or not v.tracked:
            continue
        source = {"path": v.path, "stage": v.stage, "hash": v.hash}
        if code is not None and code.commit:
            source["rev"] = code.commit
        if code is not None and code.remote_url:
            source["repo"] = code.remote_url
        if v.remote:
            source["remote"] = v.remote
        context = "output" if v.role == "out" else "input"
        inputs.append(
            DatasetInput(
                dataset=Dataset(
                    name=v.path,
                    digest=v.hash[:MAX_DATASET_DIGEST_SIZE],
                    source_type="dvc",
                    source=json.dumps(source, sort_keys=True),
                    profile=json.dumps({"size": v.size, "nfiles": v.nfiles}),
                ),
                tags=[InputTag("mlflow.data.context", context)],
            )
        )
    for start in range(0, len(inputs), MAX_DATASETS_PER_BATCH):
        client.log_inputs(run_id, datasets=inputs[start : start + MAX_DATASETS_PER_BATCH])


def log_files(
    client: MlflowClient,
    run_id: str,
    snapshot: Snapshot,
    extra: dict[str, str] | None = None,
) -> None:
    """Upload the pipeline files, the environment, the snapshot and the git diff in one
    ``log_artifacts`` call, under ``dvflow/``. Every text goes through ``redact_text``
    (the patch already did)."""
    secrets = secret_values()
    with tempfile.TemporaryDirectory(prefix="dvflow-artifacts-") as tmp:
        folder = Path(tmp)
        for rel in snapshot.files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            content = (snapshot.root / rel).read_bytes()
            try:
                target.write_text(redact_text(content.decode("utf-8"), secrets))
            except UnicodeDecodeError:
                target.write_bytes(content)  # not text: DVC could not have read it either
        if snapshot.environment.requirements is not None:
            (folder / "requirements.txt").write_text(snapshot.environment.requirements)
        (folder / tags.ENVIRONMENT_ARTIFACT).write_text(
            json.dumps(redact_data(snapshot.environment.to_dict(), secrets), indent=2, default=str)
        )
        (folder / tags.SNAPSHOT_ARTIFACT).write_text(
            json.dumps(redact_data(snapshot.to_dict(), secrets), indent=2, default=str)
        )
        if snapshot.git_diff:
            (folder / tags.DIFF_ARTIFACT).write_text(snapshot.git_diff)
        for name, text in (extra or {}).items():
            (folder / name).write_text(redact_text(text, secrets))
        client.log_artifacts(run_id, str(folder), tags.ARTIFACT_DIR)


def record_snapshot(
    client: MlflowClient,
    run_id: str,
    snapshot: Snapshot,
    kind: str,
    *,
    extra_files: dict[str, str] | None = None,
) -> None:
    """Write ``snapshot`` into run ``run_id``: tags, params, dataset inputs, artifacts.

    ``extra_files`` (name -> text) are uploaded beside the snapshot's own files.
    """
    all_tags = {**snapshot_tags(snapshot, kind), **data_tags(snapshot.data)}
    log_tags_and_params(client, run_id, all_tags, snapshot.params)
    log_data_inputs(client, run_id, snapshot.data, snapshot.code)
    log_files(client, run_id, snapshot, extra_files)

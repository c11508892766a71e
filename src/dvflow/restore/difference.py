"""What differs between two runs (``dvflow diff``): params, data versions, code,
environment and metrics, each in DVC's diff shape (``{path: {name: {old, new, diff}}}``)
so that ``dvc params diff``'s own table prints it.

Either side may also be a git revision (the newest pipeline run made at that commit)
or a DVC experiment name (the newest run tagged ``dvc.exp.name``).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvflow.restore.lineage import (
    DIFF_PATH,
    ENVIRONMENT_PATH,
    omitted_files,
    read_artifact_text,
)
from dvflow.restore.listing import RunQuery, commit_and_tree, search
from dvflow.restore.lookup import RunNotFoundError, filter_literal, find_run, open_experiment
from dvflow.tracking import schema as tags
from dvflow.tracking.compare import COMMIT_KEY, split_code_and_data

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from dvflow.workspace import Workspace

# `dvc metrics diff`'s default precision.
METRIC_PRECISION = 5
SECTIONS = ("code", "params", "data", "environment", "metrics")
Change = dict[str, Any]


@dataclass
class RunDifference:
    """Two runs and what differs between them, section by section."""

    a: dict[str, str]
    b: dict[str, str]
    sections: dict[str, dict[str, Change]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"a": self.a, "b": self.b, **self.sections}


def _newest(client: MlflowClient, experiment_ids: list[str], condition: str) -> Run | None:
    for extra in (f" AND tags.`{tags.KIND}` = '{tags.KIND_PIPELINE}'", ""):
        found = client.search_runs(
            experiment_ids, condition + extra, max_results=1, order_by=["start_time DESC"]
        )
        if found:
            return found[0]
    return None


def resolve_side(client: MlflowClient, experiment_ids: list[str], root: Path, ref: str) -> Run:
    """The run ``ref`` names: a run (id, prefix, name), else a git revision (the
    newest pipeline run made at that commit, or from a tree identical to it), else a
    DVC experiment name (its newest pipeline run)."""
    try:
        return find_run(client, experiment_ids, ref)
    except RunNotFoundError as not_a_run:
        if not_a_run.candidates:
            raise
    commit, tree = commit_and_tree(root, ref)
    if tree is not None:
        query = RunQuery(commits=(commit,), trees=(tree,), kind=tags.KIND_PIPELINE, limit=1)
        found = search(client, experiment_ids, query) or search(
            client, experiment_ids, RunQuery(commits=(commit,), trees=(tree,), limit=1)
        )
        if found:
            return found[0]
    literal = filter_literal(ref)
    if literal is not None:
        run = _newest(client, experiment_ids, f"tags.`{tags.DVC_EXP_NAME}` = {literal}")
        if run is not None:
            return run
    raise RunNotFoundError(ref)


def _changes(a: dict[str, Any], b: dict[str, Any], show_all: bool) -> dict[str, Change]:
    out: dict[str, Change] = {}
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key), b.get(key)
        if old == new and not show_all:
            continue
        kind = "added" if old is None else "deleted" if new is None else "modified"
        out[key] = {"old": old, "new": new, "diff": kind if old != new else None}
    return out


def _metric_changes(a: dict[str, float], b: dict[str, float], show_all: bool) -> dict[str, Change]:
    out = _changes(a, b, show_all)
    for change in out.values():
        old, new = change["old"], change["new"]
        change["diff"] = new - old if old is not None and new is not None else None
    return out


def _patched_files(patch: str | None) -> set[str]:
    if not patch:
        return set()
    header = "diff --git a/"
    files = {line.split(" b/", 1)[-1] for line in patch.splitlines() if line.startswith(header)}
    return files | set(omitted_files(patch))


def _committed_changes(root: Path | None, a: str | None, b: str | None) -> dict[str, str]:
    if root is None or not a or not b or a == b:
        return {}
    result = subprocess.run(
        ["git", "diff", "--name-status", "--no-renames", "-z", a, b],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:  # a commit that is not here: nothing to list
        return {}
    words = {"A": "added", "D": "deleted", "M": "modified", "T": "modified"}
    fields = result.stdout.split("\0")
    pairs = zip(fields[0::2], fields[1::2], strict=False)
    return {path: words.get(status[:1], status) for status, path in pairs if path}


def _patch_of(client: MlflowClient, run: Run) -> str | None:
    if run.data.tags.get(tags.GIT_DIRTY) != "true":
        return None
    holder = run.data.tags.get(tags.PARENT_RUN_ID, run.info.run_id)
    patch = read_artifact_text(client, run.info.run_id, DIFF_PATH)
    if patch is None and holder != run.info.run_id:
        patch = read_artifact_text(client, holder, DIFF_PATH)
    return patch


def _code_changes(
    client: MlflowClient, git_root: Path | None, a: Run, b: Run, show_all: bool
) -> dict[str, Change]:
    commit_a, commit_b = a.data.tags.get(tags.GIT_COMMIT), b.data.tags.get(tags.GIT_COMMIT)
    out: dict[str, Change] = {}
    if commit_a != commit_b or show_all:
        out[COMMIT_KEY] = {
            "old": commit_a,
            "new": commit_b,
            "diff": "modified" if commit_a != commit_b else None,
        }
    for path, kind in _committed_changes(git_root, commit_a, commit_b).items():
        out[path] = {"old": (commit_a or "")[:8], "new": (commit_b or "")[:8], "diff": kind}
    uncommitted_a = _patched_files(_patch_of(client, a))
    uncommitted_b = _patched_files(_patch_of(client, b))
    for path in sorted(uncommitted_a | uncommitted_b):
        change = out.setdefault(path, {"old": None, "new": None, "diff": "uncommitted"})
        if path in uncommitted_a:
            change["old"] = "uncommitted"
        if path in uncommitted_b:
            change["new"] = "uncommitted"
    return out


def _packages(client: MlflowClient, run: Run) -> dict[str, str]:
    holder = run.data.tags.get(tags.PARENT_RUN_ID, run.info.run_id)
    text = read_artifact_text(client, run.info.run_id, ENVIRONMENT_PATH)
    if text is None and holder != run.info.run_id:
        text = read_artifact_text(client, holder, ENVIRONMENT_PATH)
    try:
        environment = json.loads(text) if text else {}
    except ValueError:
        return {}
    packages = dict(environment.get("packages") or {})
    if environment.get("python"):
        packages["python"] = environment["python"]
    return {str(k): str(v) for k, v in packages.items()}


def _data(runs: list[Run]) -> list[dict[str, str]]:
    tracked = {
        i.dataset.name
        for run in runs
        for i in (run.inputs.dataset_inputs if run.inputs else [])
        if i.dataset.source_type == "dvc"
    }
    _, data = split_code_and_data([dict(r.data.tags) for r in runs], tracked or None)
    return data


def _side(run: Run) -> dict[str, str]:
    return {"run_id": run.info.run_id, "name": run.info.run_name or ""}


def diff_runs(workspace: Workspace, a: str, b: str, *, show_all: bool = False) -> RunDifference:
    """What differs between the runs ``a`` and ``b`` name.

    Args:
        workspace: the project and where its runs are.
        a: a run (id, unique prefix, name), a git revision, or a DVC experiment name.
        b: the same, for the other side.
        show_all: keep what did not change too.

    Raises:
        RunNotFoundError: a side names no run, or several.
    """
    client, experiment_ids = open_experiment(workspace)
    root = workspace.project.root
    run_a = resolve_side(client, experiment_ids, root, a)
    run_b = resolve_side(client, experiment_ids, root, b)
    data_a, data_b = _data([run_a, run_b])
    result = RunDifference(_side(run_a), _side(run_b))
    result.sections = {
        "code": _code_changes(client, workspace.project.git_root, run_a, run_b, show_all),
        "params": _changes(dict(run_a.data.params), dict(run_b.data.params), show_all),
        "data": _changes(data_a, data_b, show_all),
        "environment": _changes(_packages(client, run_a), _packages(client, run_b), show_all),
        "metrics": _metric_changes(dict(run_a.data.metrics), dict(run_b.data.metrics), show_all),
    }
    return result


_TITLES = {
    "code": "File",
    "params": "Param",
    "data": "Data",
    "environment": "Package",
    "metrics": "Metric",
}


def format_difference(difference: RunDifference, fmt: str = "plain") -> str:
    """The sections as DVC prints ``dvc params diff`` tables: plain, ``md`` or ``csv``
    (one table per section that has rows; a blank line between them)."""
    from dvflow.integrations.dvc_internals import diff_table_text

    a_rev = difference.a["run_id"][:12]
    b_rev = difference.b["run_id"][:12]
    tables = []
    for section in SECTIONS:
        rows = difference.sections.get(section)
        if not rows:
            continue
        tables.append(
            diff_table_text(
                {section: rows},
                _TITLES[section],
                a_rev=a_rev,
                b_rev=b_rev,
                show_changes=section != "params",
                precision=METRIC_PRECISION if section == "metrics" else None,
                fmt=fmt,
            ).rstrip("\n")
        )
    return "\n\n".join(tables) + "\n" if tables else ""

"""Binding runs to the commit that records the state they left.

A run made from a dirty tree carries the commit it was made from, which does not hold
its code; once the user commits exactly the state the run left (its
``dvflow.result.fingerprint``), that commit is the one to restore it from. The run gets
``dvflow.git.bound_commit``; its original commit tag stays (it is history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.snapshot.gitindex import run_git
from dvflow.tracking import schema
from dvflow.tracking.store import experiment_exists, sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from dvflow.workspace import Workspace


@dataclass
class Binding:
    """What binding did: runs tagged now, runs already bound to a reachable commit."""

    commit: str
    tree: str
    bound: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    note: str | None = None


def _matching_runs(client: MlflowClient, experiment_id: str, tree: str) -> list[object]:
    # The store filters on the tags (an index lookup on SQL stores, one call per page
    # on a server): no scan of every run. `tree` is hex, safe in the filter.
    # Two queries, as MLflow's filter has no OR: runs made from a dirty tree, and runs
    # made from a clean commit that left a new state (the dvc.lock and metrics DVC
    # rewrote), whose outputs only the new commit records.
    found: dict[str, object] = {}
    for dirty_tag in (schema.GIT_DIRTY, schema.RESULT_DIRTY):
        query = f"tags.`{schema.RESULT_FINGERPRINT}` = '{tree}' AND tags.`{dirty_tag}` = 'true'"
        token = None
        while True:
            page = client.search_runs(
                [experiment_id], filter_string=query, max_results=1000, page_token=token
            )
            for run in page:
                found[run.info.run_id] = run
            token = page.token
            if not token:
                break
    return list(found.values())


def _reachable(git_root: Path, commit: str) -> bool:
    """Whether ``commit`` is an ancestor of HEAD (not amended away or on another branch)."""
    return run_git(git_root, ["merge-base", "--is-ancestor", commit, "HEAD"]).returncode == 0


def bind_runs(workspace: Workspace, git_root: Path, commit: str, tree: str) -> Binding:
    """Tag every run of the workspace's experiment that left exactly ``tree`` and was
    made from a dirty tree (or from a clean one it changed) with
    ``dvflow.git.bound_commit=<commit>``.

    A run already bound to a commit that HEAD still contains keeps it (both commits
    hold the same tree); one bound to a commit that was amended away is bound again.
    A project whose embedded store was never created has nothing to bind (nothing is
    created).

    Raises:
        TrackingStoreError: the store cannot be reached.
    """
    result = Binding(commit, tree)
    uri = workspace.tracking_uri
    if sqlite_path(uri) is not None and not experiment_exists(uri, workspace.experiment):
        result.note = f"no runs recorded yet in experiment '{workspace.experiment}'"
        return result
    session = workspace.session()
    for run in _matching_runs(session.client, session.experiment_id, tree):
        run_id = run.info.run_id  # type: ignore[attr-defined]
        previous = run.data.tags.get(schema.BOUND_COMMIT)  # type: ignore[attr-defined]
        if previous and previous != commit and _reachable(git_root, previous):
            result.kept.append(run_id)
            continue
        session.client.set_tag(run_id, schema.BOUND_COMMIT, commit)
        result.bound.append(run_id)
    return result

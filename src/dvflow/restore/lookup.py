"""Finding one run from what a user types: a run id, a unique prefix of one, or a name.

Every read command (``dvflow show``, ``diff``, ``checkout``...) takes a run this way.
The lookup asks MLflow's own search (an indexed query in a SQL store), never lists
every run of the experiment.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dvflow.errors import DvflowError
from dvflow.tracking.store import display_uri, experiment_exists, sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from dvflow.workspace import Workspace

_RUN_ID = re.compile(r"[0-9a-f]{32}")
_HEX = re.compile(r"[0-9a-f]+")
# Enough candidates to show that a prefix is ambiguous, few enough for one line.
_SHOWN_CANDIDATES = 5


class RunNotFoundError(DvflowError):
    """No run, or more than one, matches what the user asked for."""

    exit_code = 6

    def __init__(self, ref: str, candidates: list[Run] | None = None) -> None:
        if not candidates:
            message = (
                f"no run matches '{ref}': give a run id, a unique prefix of one, or a run "
                "name ('dvflow runs' lists them; --experiment picks another experiment)."
            )
        else:
            shown = ", ".join(
                f"{run.info.run_id[:12]} ({run.info.run_name or '-'})"
                for run in candidates[:_SHOWN_CANDIDATES]
            )
            more = len(candidates) - _SHOWN_CANDIDATES
            tail = f" and {more} more" if more > 0 else ""
            message = (
                f"'{ref}' matches {len(candidates)} runs: {shown}{tail}. "
                "Give more characters of the run id."
            )
        super().__init__(message)
        self.ref = ref
        self.candidates = candidates or []


class ExperimentNotFoundError(DvflowError):
    """The experiment to read runs from does not exist (reading never creates one)."""

    exit_code = 6

    def __init__(self, experiment: str, uri: str) -> None:
        super().__init__(
            f"no experiment '{experiment}' in the tracking store {display_uri(uri)}: "
            "record runs with 'dvflow repro', or name another with --experiment."
        )


def open_experiment(workspace: Workspace) -> tuple[MlflowClient, list[str]]:
    """A client on the workspace's store and the id of its experiment, to read runs.

    Raises:
        ExperimentNotFoundError: a local store without that experiment (or no store at
            all): a read command creates neither.
    """
    uri = workspace.tracking_uri
    if sqlite_path(uri) is not None and not experiment_exists(uri, workspace.experiment):
        raise ExperimentNotFoundError(workspace.experiment, uri)
    session = workspace.session()
    return session.client, [session.experiment_id]


def filter_literal(value: str) -> str | None:
    """``value`` as a string literal of MLflow's filter syntax, or None when it holds
    both kinds of quotes (MLflow's parser has no escape for that).

    >>> print(filter_literal("train"), filter_literal("lr='0.1'"))
    'train' "lr='0.1'"
    """
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def _search(client: MlflowClient, experiment_ids: list[str], query: str) -> list[Run]:
    # One more than shown says "and N more" correctly only up to that; the count of an
    # ambiguous match matters less than answering fast.
    return list(client.search_runs(experiment_ids, query, max_results=1000))


def find_run(client: MlflowClient, experiment_ids: list[str], ref: str) -> Run:
    """The one run that ``ref`` names.

    Args:
        client: a client on the tracking store.
        experiment_ids: where prefixes and names are looked up (a full run id is found
            in any experiment of the store).
        ref: a run id, a unique prefix of one (any length), or a run's name.

    Returns:
        The run, with its tags, params and metrics.

    Raises:
        RunNotFoundError: nothing matches ``ref``, or several runs do (deleted runs
            are never matched by a prefix or a name).
    """
    from mlflow.exceptions import MlflowException

    ref = ref.strip()
    if not ref:
        raise RunNotFoundError(ref)
    if _RUN_ID.fullmatch(ref):
        try:
            return client.get_run(ref)
        except MlflowException:
            pass  # maybe a name that looks like an id: searched below
    found: dict[str, Run] = {}
    literal = filter_literal(ref)
    if literal is not None:
        for run in _search(client, experiment_ids, f"attributes.run_name = {literal}"):
            found[run.info.run_id] = run
    if _HEX.fullmatch(ref):
        for run in _search(client, experiment_ids, f"attributes.run_id LIKE '{ref}%'"):
            found[run.info.run_id] = run
    if len(found) == 1:
        return next(iter(found.values()))
    candidates = sorted(found.values(), key=lambda r: -(r.info.start_time or 0))
    raise RunNotFoundError(ref, candidates)

"""Finding a run by id, unique prefix or name; ambiguity and absence are one-line errors."""

from pathlib import Path
from typing import Any

import pytest

from dvflow.restore.lookup import RunNotFoundError, find_run


@pytest.fixture
def experiment(client: Any, tmp_path: Path) -> str:
    return str(client.create_experiment("lookup", artifact_location=str(tmp_path / "art")))


def test_a_run_is_found_by_id_prefix_and_name(client: Any, experiment: str) -> None:
    run = client.create_run(experiment, run_name="baseline")
    other = client.create_run(experiment, run_name="tuned")
    run_id = run.info.run_id
    # The shortest prefix that tells the two apart.
    length = next(n for n in range(1, 33) if other.info.run_id[:n] != run_id[:n])
    assert find_run(client, [experiment], run_id).info.run_id == run_id
    assert find_run(client, [experiment], run_id[:length]).info.run_id == run_id
    assert find_run(client, [experiment], "baseline").info.run_id == run_id
    assert find_run(client, [experiment], "tuned").info.run_id == other.info.run_id


def test_a_full_id_is_found_in_another_experiment(
    client: Any, experiment: str, tmp_path: Path
) -> None:
    elsewhere = client.create_experiment("other", artifact_location=str(tmp_path / "o"))
    run = client.create_run(elsewhere, run_name="far")
    assert find_run(client, [experiment], run.info.run_id).info.run_id == run.info.run_id


def test_names_with_quotes_are_found(client: Any, experiment: str) -> None:
    run = client.create_run(experiment, run_name="lr='0.1'")
    assert find_run(client, [experiment], "lr='0.1'").info.run_id == run.info.run_id


def test_an_ambiguous_name_lists_its_candidates(client: Any, experiment: str) -> None:
    first = client.create_run(experiment, run_name="train")
    second = client.create_run(experiment, run_name="train")
    with pytest.raises(RunNotFoundError) as caught:
        find_run(client, [experiment], "train")
    message = caught.value.message
    assert "matches 2 runs" in message
    assert first.info.run_id[:12] in message and second.info.run_id[:12] in message
    assert "\n" not in message
    assert caught.value.exit_code == 6


def test_an_unknown_ref_and_a_deleted_run_are_not_found(client: Any, experiment: str) -> None:
    run = client.create_run(experiment, run_name="gone")
    client.delete_run(run.info.run_id)
    for ref in ("gone", run.info.run_id[:8], "nothing-like-this", ""):
        with pytest.raises(RunNotFoundError, match="no run matches"):
            find_run(client, [experiment], ref)

"""The doctor's registry: a new check is one decorated function; the hook file runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dvflow.doctor import examination
from dvflow.doctor.registry import CHECKS, Problem, check

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_issue_s_checks_are_registered_once_each() -> None:
    names = [c.name for c in examination.registered_checks()]
    assert len(names) == len(set(names)) >= 17
    for expected in (
        "layout.params-file",
        "params.declared-exist",
        "params.unused",
        "params.no-secrets",
        "pipeline.scripts-in-deps",
        "pipeline.lock",
        "pipeline.results-in-git",
        "git.outputs-not-in-git",
        "git.large-tracked",
        "git.large-untracked",
        "ignore.gitignore",
        "ignore.dvcignore",
        "env.requirements",
        "dvc.remote",
        "mlflow.store",
        "mlflow.experiment",
    ):
        assert expected in names


def test_a_new_check_is_one_decorated_function() -> None:
    @check("example.unit", "an example")
    def example(context: object) -> list[Problem]:
        return [Problem("bad", "here", "do this", "fail")]

    try:
        assert CHECKS["example.unit"].run(object()) == [Problem("bad", "here", "do this", "fail")]  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="two doctor checks"):
            check("example.unit", "again")(example)
    finally:
        CHECKS.pop("example.unit")


def test_status_is_the_worst_problem_and_notes_pass() -> None:
    status = examination._status
    assert status([]) == "pass"
    assert status([Problem("note", severity="info")]) == "pass"
    assert status([Problem("a"), Problem("b", severity="fail")]) == "fail"


def test_pre_commit_hook_runs_doctor() -> None:
    (hook,) = yaml.safe_load((REPOSITORY / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "dvflow-doctor"
    assert hook["entry"].split()[:2] == ["dvflow", "doctor"]
    assert hook["pass_filenames"] is False and hook["language"] == "python"

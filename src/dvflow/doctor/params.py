"""Checks of params files: declared keys exist, no key is unused, no secret in them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dvflow.doctor.context import Context
from dvflow.doctor.registry import Problem, check
from dvflow.integrations.dvc_internals import is_params_dependency, read_params_file
from dvflow.snapshot.params import flatten, params_files
from dvflow.snapshot.redact import strip_credentials

DEFAULT_PARAMS_FILE = "params.yaml"
# The last part of a key that holds a credential (not `tokenizer`, `key_column`).
_SECRET_KEY = re.compile(
    r"(^|[_-])(password|passwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|"
    r"private[_-]?key|credentials?|auth)($|[_-])",
    re.IGNORECASE,
)
# Values shaped like well-known credentials.
_SECRET_VALUE = re.compile(
    r"AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{20,}|xox[abprs]-[\w-]{10,}|"
    r"sk-[A-Za-z0-9_-]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|AIza[0-9A-Za-z_-]{35}"
)


def _read(context: Context, path: Path) -> Mapping[str, Any] | None:
    assert context.repo is not None
    try:
        values = read_params_file(context.repo, path)
    except Exception:  # a broken file is reported by the check that reads it
        return None
    return values if isinstance(values, Mapping) else None


def _declared(stage: Any) -> list[tuple[Any, list[str]]]:
    # (dependency, keys); no key: the stage uses the whole file.
    return [(dep, list(dep.params or [])) for dep in stage.deps if is_params_dependency(dep)]


def _covers(declared: str, key: str) -> bool:
    return key == declared or key.startswith(f"{declared}.")


@check("params.declared-exist", "every param a stage declares exists in its params file")
def declared_exist(context: Context) -> list[Problem]:
    problems = []
    for stage in context.stages:
        for dep, keys in _declared(stage):
            path = Path(dep.fs_path)
            where = context.rel(stage.dvcfile.path)
            if not path.is_file():
                problems.append(
                    Problem(
                        f"stage '{stage.addressing}' reads {context.rel(path)}, which is missing",
                        where,
                        f"create {context.rel(path)} or remove it from the stage's params",
                        "fail",
                    )
                )
                continue
            values = _read(context, path)
            flat = flatten(values) if values is not None else {}
            for key in keys:
                if not any(_covers(key, k) for k in flat):
                    problems.append(
                        Problem(
                            f"{context.rel(path)} has no key '{key}' used by stage "
                            f"'{stage.addressing}'",
                            where,
                            f"add '{key}' to {context.rel(path)} or remove it from the "
                            "stage's params",
                            "fail",
                        )
                    )
    return problems


@check("params.unused", "no key of params.yaml that no stage uses")
def unused(context: Context) -> list[Problem]:
    path = context.root / DEFAULT_PARAMS_FILE
    if context.repo is None or not path.is_file():
        return []
    values = _read(context, path)
    if values is None:
        return []
    used: list[str] = []
    for stage in context.stages:
        for dep, keys in _declared(stage):
            if Path(dep.fs_path).resolve() == path.resolve():
                if not keys:
                    return []  # a stage depends on the whole file
                used += keys
    return [
        Problem(
            f"'{key}' is used by no stage: changing it re-runs nothing",
            f"{DEFAULT_PARAMS_FILE}: {key}",
            "list it in the params of the stage that reads it (dvc.yaml), or remove it",
        )
        for key in flatten(values)
        if not any(_covers(u, key) for u in used)
    ]


@check("params.no-secrets", "no secret-looking values in params files")
def no_secrets(context: Context) -> list[Problem]:
    if context.repo is None:
        return []
    problems = []
    for path in params_files(context.repo):
        values = _read(context, path)
        for key, value in flatten(values or {}).items():
            if not isinstance(value, str) or not value.strip():
                continue
            named = bool(_SECRET_KEY.search(key.rsplit(".", 1)[-1]))
            shaped = bool(_SECRET_VALUE.search(value)) or strip_credentials(value) != value
            if named or shaped:
                # Never print the value: it would land in CI logs.
                problems.append(
                    Problem(
                        f"'{key}' looks like a credential: params are committed to git and "
                        "recorded in MLflow",
                        f"{context.rel(path)}: {key}",
                        "read it from an environment variable or a git-ignored file instead",
                        "fail",
                    )
                )
    return problems

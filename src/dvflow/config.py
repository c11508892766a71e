"""dvflow's settings: the config files, then the environment, then command-line flags.

Two files, as DVC has ``.dvc/config`` and ``.dvc/config.local``:

- ``.dvflow/config.yaml`` at the project root, committed with the project::

    tracking_uri: sqlite:///mlflow.db     # relative paths resolve against the project root
    experiment: churn-model

- ``.dvflow/config.local.yaml`` beside it, git-ignored (``.dvflow/.gitignore``): one
  user's settings that must not be committed, such as a tracking URI with a token.
  It beats the committed file.

The environment beats both files, and a flag given on the command line beats the
environment. For the experiment, the tool's own variable wins over the generic one:
``DVFLOW_EXPERIMENT``, then ``MLFLOW_EXPERIMENT_NAME``, then ``MLFLOW_EXPERIMENT_ID``
(as MLflow, a name before an id).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvflow import env
from dvflow.errors import ConfigError

CONFIG_DIR = ".dvflow"
CONFIG_FILE = "config.yaml"
LOCAL_CONFIG_FILE = "config.local.yaml"
# Inside CONFIG_DIR: keeps the local file out of git, as DVC's .dvc/.gitignore does.
LOCAL_IGNORE_LINE = f"/{LOCAL_CONFIG_FILE}"
KNOWN_KEYS = ("tracking_uri", "experiment", "system_metrics")
# Settings that are yes or no: YAML's true/false, or the strings "true"/"false".
SWITCH_KEYS = ("system_metrics",)
_YES, _NO = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one invocation.

    ``experiment_id`` is set only when ``MLFLOW_EXPERIMENT_ID`` chose the experiment
    (nothing named one): its name is then read from the store (``Workspace``).
    """

    tracking_uri: str | None = None
    experiment: str | None = None
    experiment_id: str | None = None
    # `dvflow repro` samples CPU, memory, disk and network into each running stage's run.
    system_metrics: bool = False


def config_path(root: Path, *, local: bool = False) -> Path:
    """The config file of the project at ``root`` (``local``: the git-ignored one)."""
    return root / CONFIG_DIR / (LOCAL_CONFIG_FILE if local else CONFIG_FILE)


def read_config_file(root: Path, *, local: bool = False) -> dict[str, Any]:
    """Read ``.dvflow/config.yaml`` (or ``config.local.yaml``); an absent file is an
    empty config.

    Raises:
        ConfigError: the file is not YAML, not a mapping, has an unknown key or a value
            that is not a non-empty string.
    """
    path = config_path(root, local=local)
    if not path.exists():
        return {}
    if not path.is_file():
        raise ConfigError(f"{path} is not a file. Remove it, or write the settings into it.")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}). Save it as UTF-8 or delete it."
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror}). Fix its permissions.") from exc
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise ConfigError(f"{path}{where} is not valid YAML. Fix or delete it.") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of settings. Fix or delete it.")
    unknown = sorted(set(data) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"{path} has unknown setting(s) {', '.join(unknown)}; "
            f"known settings are {', '.join(KNOWN_KEYS)}."
        )
    for key, value in data.items():
        if key in SWITCH_KEYS:
            if switch(value) is None:
                raise ConfigError(f"{path}: '{key}' must be true or false, not {value!r}.")
            continue
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"{path}: '{key}' must be a non-empty string, not {value!r}; "
                f'quote it, e.g. {key}: "{value}".'
            )
    return data


def switch(value: Any) -> bool | None:
    """A yes-or-no setting's value (None: neither).

    >>> switch(True), switch("false"), switch("maybe")
    (True, False, None)
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _YES else (False if text in _NO else None)


def read_config(root: Path) -> dict[str, Any]:
    """Both files merged: the local one wins."""
    return {**read_config_file(root), **read_config_file(root, local=True)}


def load_settings(
    root: Path, *, tracking_uri: str | None = None, experiment: str | None = None
) -> Settings:
    """Resolve the settings: files < environment < the arguments given here (flags)."""
    files = read_config(root)
    named = (
        experiment
        or os.environ.get(env.DVFLOW_EXPERIMENT)
        or os.environ.get(env.MLFLOW_EXPERIMENT_NAME)
    )
    experiment_id = None if named else (os.environ.get(env.MLFLOW_EXPERIMENT_ID) or None)
    return Settings(
        tracking_uri=tracking_uri
        or os.environ.get(env.MLFLOW_TRACKING_URI)
        or files.get("tracking_uri"),
        experiment=named or (None if experiment_id else files.get("experiment")),
        experiment_id=experiment_id,
        system_metrics=bool(
            switch(os.environ.get(env.DVFLOW_SYSTEM_METRICS) or files.get("system_metrics", False))
        ),
    )


def configure(
    root: Path,
    key: str,
    value: str | None = None,
    *,
    local: bool = False,
    unset: bool = False,
) -> str | None:
    """Read, set or unset one setting, as ``dvc config [--local] KEY [VALUE]`` does.

    Reading without ``local`` gives the value the files resolve to (the local file
    wins); with ``local``, the local file's own. Writing goes to ``config.yaml``, or
    with ``local`` to ``config.local.yaml``, which is kept out of git: dvflow lists it
    in ``.dvflow/.gitignore``. The file's comments and other keys are kept.

    Example:
        >>> configure(root, "tracking_uri", "https://user:token@mlflow.acme.dev",
        ...           local=True)                                   # doctest: +SKIP

    Returns:
        The value read or written; None after ``unset``.

    Raises:
        ConfigError: an unknown key, an empty value, a key that is not set (reading
            or unsetting), or an invalid file.
    """
    if key not in KNOWN_KEYS:
        raise ConfigError(
            f"'{key}' is not a dvflow setting; known settings are {', '.join(KNOWN_KEYS)}."
        )
    path = config_path(root, local=local)
    if value is None and not unset:
        found = read_config_file(root, local=True) if local else read_config(root)
        if key not in found:
            raise ConfigError(
                f"'{key}' is not set in {path if local else 'the project config'}; "
                f"set it with 'dvflow config {'--local ' if local else ''}{key} VALUE'."
            )
        return str(found[key])
    current = read_config_file(root, local=local)  # validates the file before editing it
    if unset:
        if key not in current:
            raise ConfigError(f"'{key}' is not set in {path}; nothing to unset.")
        _edit(path, lambda data: data.pop(key, None))
        return None
    if not value:
        raise ConfigError(f"'{key}' must be a non-empty value; to remove it, use --unset.")
    if key in SWITCH_KEYS and switch(value) is None:
        raise ConfigError(f"'{key}' must be true or false, not {value!r}.")
    if local:
        _ignore_local_file(root)
    _edit(path, lambda data: data.__setitem__(key, value))
    return value


def _edit(path: Path, change: Any) -> None:
    """Apply ``change`` to the file's mapping, keeping its comments (DVC's round-trip
    YAML editor); a new file is written plainly."""
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        import yaml

        data: dict[str, Any] = {}
        change(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return
    from dvflow.integrations.dvc_internals import edit_yaml

    with edit_yaml(path) as data:
        change(data)


def _ignore_local_file(root: Path) -> None:
    """List the local file in ``.dvflow/.gitignore`` (created, or a line appended)."""
    ignore = root / CONFIG_DIR / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    if LOCAL_IGNORE_LINE in lines:
        return
    ignore.parent.mkdir(parents=True, exist_ok=True)
    with ignore.open("a", encoding="utf-8") as handle:
        if lines and lines[-1] != "":
            handle.write("\n")
        handle.write(f"{LOCAL_IGNORE_LINE}\n")

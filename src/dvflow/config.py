"""dvflow's settings: the config file, then the environment, then command-line flags.

The file is ``.dvflow/config.yaml`` at the project root, committed with the project::

    tracking_uri: sqlite:///mlflow.db     # relative paths resolve against the project root
    experiment: churn-model

A flag given on the command line beats the environment, which beats the file.
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
KNOWN_KEYS = ("tracking_uri", "experiment")


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one invocation."""

    tracking_uri: str | None = None
    experiment: str | None = None


def config_path(root: Path) -> Path:
    """The config file of the project at ``root``."""
    return root / CONFIG_DIR / CONFIG_FILE


def read_config_file(root: Path) -> dict[str, Any]:
    """Read ``.dvflow/config.yaml``; an absent file is an empty config."""
    path = config_path(root)
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
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"{path}: '{key}' must be a non-empty string, not {value!r}; "
                f'quote it, e.g. {key}: "{value}".'
            )
    return data


def load_settings(
    root: Path, *, tracking_uri: str | None = None, experiment: str | None = None
) -> Settings:
    """Resolve the settings: file < environment < the arguments given here (flags)."""
    file = read_config_file(root)
    return Settings(
        tracking_uri=tracking_uri
        or os.environ.get(env.MLFLOW_TRACKING_URI)
        or file.get("tracking_uri"),
        experiment=experiment
        or os.environ.get(env.MLFLOW_EXPERIMENT_NAME)
        or os.environ.get(env.DVFLOW_EXPERIMENT)
        or file.get("experiment"),
    )

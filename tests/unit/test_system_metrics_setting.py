"""The `system_metrics` setting: off by default, yes or no, the environment beats files."""

from pathlib import Path

import pytest

from dvflow import env
from dvflow.config import configure, load_settings
from dvflow.errors import ConfigError


def _config(root: Path, text: str) -> None:
    (root / ".dvflow").mkdir(exist_ok=True)
    (root / ".dvflow" / "config.yaml").write_text(text)


def test_off_by_default_and_on_from_the_config_file(tmp_path: Path) -> None:
    assert load_settings(tmp_path).system_metrics is False
    _config(tmp_path, "system_metrics: true\n")
    assert load_settings(tmp_path).system_metrics is True
    _config(tmp_path, 'system_metrics: "false"\n')
    assert load_settings(tmp_path).system_metrics is False


def test_the_environment_beats_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, "system_metrics: true\n")
    monkeypatch.setenv(env.DVFLOW_SYSTEM_METRICS, "false")
    assert load_settings(tmp_path).system_metrics is False


def test_a_value_that_is_not_yes_or_no_is_refused(tmp_path: Path) -> None:
    _config(tmp_path, "system_metrics: sometimes\n")
    with pytest.raises(ConfigError, match="must be true or false"):
        load_settings(tmp_path)
    (tmp_path / ".dvflow" / "config.yaml").unlink()
    with pytest.raises(ConfigError, match="must be true or false"):
        configure(tmp_path, "system_metrics", "sometimes")
    assert configure(tmp_path, "system_metrics", "true") == "true"
    assert load_settings(tmp_path).system_metrics is True

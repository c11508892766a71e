from pathlib import Path

import pytest

from dvflow import env
from dvflow.config import load_settings
from dvflow.errors import ConfigError
from dvflow.project import Project, home_of
from dvflow.snapshot.params import flatten
from dvflow.tracking.store import resolve_tracking_uri


def _project(root: Path) -> Project:
    return Project(root=root, home=root, git_root=root, has_dvc=True)


def test_flatten_joins_nested_keys_and_keeps_lists() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": [1, 2]}, "e": "x", "f": {}}) == {
        "a.b.c": 1,
        "a.d": [1, 2],
        "e": "x",
        "f": {},
    }


def test_settings_precedence_file_env_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".dvflow").mkdir()
    (tmp_path / ".dvflow" / "config.yaml").write_text(
        "tracking_uri: sqlite:///from-file.db\nexperiment: from-file\n"
    )
    assert load_settings(tmp_path).experiment == "from-file"
    monkeypatch.setenv(env.MLFLOW_EXPERIMENT_NAME, "from-env")
    monkeypatch.setenv(env.MLFLOW_TRACKING_URI, "http://env:5000")
    assert load_settings(tmp_path).experiment == "from-env"
    assert load_settings(tmp_path).tracking_uri == "http://env:5000"
    flagged = load_settings(tmp_path, experiment="from-flag", tracking_uri="http://flag")
    assert (flagged.experiment, flagged.tracking_uri) == ("from-flag", "http://flag")


def test_config_file_errors_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / ".dvflow").mkdir()
    (tmp_path / ".dvflow" / "config.yaml").write_text("trackin_uri: x\n")
    with pytest.raises(ConfigError, match=r"unknown setting.*trackin_uri"):
        load_settings(tmp_path)
    (tmp_path / ".dvflow" / "config.yaml").write_text("a: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(tmp_path)


def test_relative_store_paths_resolve_against_the_project(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert resolve_tracking_uri(project, None) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert (
        resolve_tracking_uri(project, "sqlite:///sub/x.db") == f"sqlite:///{tmp_path / 'sub/x.db'}"
    )
    assert resolve_tracking_uri(project, "sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert resolve_tracking_uri(project, "http://h:5000") == "http://h:5000"


def test_home_of_a_queued_experiment_copy_is_the_original_repo() -> None:
    assert home_of(Path("/w/proj/.dvc/tmp/exps/tmpab12")) == Path("/w/proj")
    assert home_of(Path("/w/proj")) == Path("/w/proj")

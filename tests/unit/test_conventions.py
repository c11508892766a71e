"""dvflow follows DVC's and MLflow's conventions: options, variables, settings files,
exit codes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from dvflow import env
from dvflow.cli.main import _LAZY_COMMANDS
from dvflow.config import configure, load_settings
from dvflow.errors import ConfigError
from dvflow.repro.options import ReproOptions
from tests.conftest import dvc_exe, dvflow_exe, run

DVC_REPRO_FLAGS = {
    "-f": "force",
    "-i": "interactive",
    "-s": "single_item",
    "-p": "pipeline",
    "-P": "all_pipelines",
    "-R": "recursive",
    "--downstream": "downstream",
    "--force-downstream": "force_downstream",
    "--pull": "pull",
    "--allow-missing": "allow_missing",
    "--dry": "dry",
    "--glob": "glob",
    "--no-commit": "no_commit",
    "--no-run-cache": "no_run_cache",
}


@pytest.mark.parametrize("flag", [*DVC_REPRO_FLAGS, "-k", "--ignore-errors"])
def test_repro_gives_dvc_exactly_what_dvc_repro_gives_it(flag: str) -> None:
    """Each flag, parsed by DVC's own parser, makes the same Repo.reproduce call."""
    from dvc.cli import parse_args
    from dvc.commands.repro import CmdRepro

    args = parse_args(["repro", flag, "train"])
    dvc_command = SimpleNamespace(args=args)
    expected = {
        **CmdRepro._common_kwargs.fget(dvc_command),  # type: ignore[attr-defined]
        **CmdRepro._repro_kwargs.fget(dvc_command),  # type: ignore[attr-defined]
    }
    expected["targets"] = list(expected["targets"])
    if flag in ("-k", "--ignore-errors"):
        chosen = {"keep_going" if flag == "-k" else "ignore_errors": True}
    else:
        chosen = {DVC_REPRO_FLAGS[flag]: True}
    ours = ReproOptions(targets=("train",), **chosen).reproduce_kwargs()
    assert ours == expected


def test_repro_accepts_every_dvc_repro_option() -> None:
    shown = run([dvflow_exe(), "repro", "--help"], Path.cwd()).stdout
    for flag in [*DVC_REPRO_FLAGS, "-k", "--ignore-errors", "-v", "-q"]:
        assert f"{flag}," in shown or f"{flag} " in shown, flag


@pytest.mark.parametrize("command", sorted(_LAZY_COMMANDS))
def test_every_command_takes_verbose_and_quiet(command: str) -> None:
    shown = run([dvflow_exe(), command, "--help"], Path.cwd()).stdout
    assert "-v, --verbose" in shown and "-q, --quiet" in shown


def test_verbose_after_the_command_shows_the_traceback(tmp_path: Path) -> None:
    plain = run([dvflow_exe(), "snapshot"], tmp_path, check=False)
    verbose = run([dvflow_exe(), "snapshot", "-v"], tmp_path, check=False)
    assert plain.returncode == verbose.returncode == 3
    assert "Traceback" not in plain.stderr and "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("dvflow: error:")


def test_quiet_prints_only_errors_and_json(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    run([dvflow_exe(), "config", "experiment", "churn"], tmp_path)
    assert run([dvflow_exe(), "config", "experiment"], tmp_path).stdout == "churn\n"
    assert run([dvflow_exe(), "-q", "config", "experiment"], tmp_path).stdout == ""
    assert run([dvflow_exe(), "config", "-q", "experiment"], tmp_path).stdout == ""
    quiet_json = run([dvflow_exe(), "config", "-q", "--json", "experiment"], tmp_path).stdout
    assert '"value": "churn"' in quiet_json
    failed = run([dvflow_exe(), "-q", "config", "tracking_uri"], tmp_path, check=False)
    assert failed.returncode == 5 and "is not set" in failed.stderr


def test_outside_a_dvc_project_exits_with_dvcs_code(tmp_path: Path) -> None:
    result = run([dvflow_exe(), "repro"], tmp_path, check=False)
    dvc = run([dvc_exe(), "status"], tmp_path, check=False)
    assert result.returncode == dvc.returncode == 253
    assert "not inside a DVC project" in result.stderr


def test_the_tools_own_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.MLFLOW_EXPERIMENT_NAME, "generic")
    assert load_settings(tmp_path).experiment == "generic"
    monkeypatch.setenv(env.DVFLOW_EXPERIMENT, "dvflows")
    assert load_settings(tmp_path).experiment == "dvflows"
    assert load_settings(tmp_path, experiment="flag").experiment == "flag"


def test_mlflow_experiment_id_is_honoured_after_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(tmp_path, "experiment", "from-file")
    monkeypatch.setenv(env.MLFLOW_EXPERIMENT_ID, "7")
    settings = load_settings(tmp_path)
    assert (settings.experiment, settings.experiment_id) == (None, "7")  # env beats file
    monkeypatch.setenv(env.MLFLOW_EXPERIMENT_NAME, "named")
    settings = load_settings(tmp_path)
    assert (settings.experiment, settings.experiment_id) == ("named", None)  # as MLflow


def test_local_config_beats_the_committed_one_and_stays_out_of_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    configure(tmp_path, "tracking_uri", "sqlite:///team.db")
    configure(tmp_path, "experiment", "team")
    assert load_settings(tmp_path).tracking_uri == "sqlite:///team.db"
    secret = "https://ann:token@mlflow.acme.dev"
    assert configure(tmp_path, "tracking_uri", secret, local=True) == secret
    assert load_settings(tmp_path).tracking_uri == secret
    assert load_settings(tmp_path).experiment == "team"
    assert configure(tmp_path, "tracking_uri") == secret
    assert configure(tmp_path, "tracking_uri", local=True) == secret
    ignored = subprocess.run(
        ["git", "check-ignore", ".dvflow/config.local.yaml"], cwd=tmp_path, check=False
    )
    assert ignored.returncode == 0
    assert "ann:token" not in (tmp_path / ".dvflow" / "config.yaml").read_text()
    configure(tmp_path, "tracking_uri", local=True, unset=True)
    assert load_settings(tmp_path).tracking_uri == "sqlite:///team.db"


def test_config_keeps_comments_and_refuses_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / ".dvflow").mkdir()
    path = tmp_path / ".dvflow" / "config.yaml"
    path.write_text("# the team's store\ntracking_uri: sqlite:///a.db\n")
    configure(tmp_path, "experiment", "x")
    assert path.read_text().startswith("# the team's store\n")
    assert "experiment: x" in path.read_text()
    with pytest.raises(ConfigError, match="not a dvflow setting"):
        configure(tmp_path, "trackin_uri", "x")
    with pytest.raises(ConfigError, match="nothing to unset"):
        configure(tmp_path, "experiment", local=True, unset=True)

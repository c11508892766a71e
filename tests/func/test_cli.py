"""The dvflow command through its real entry point."""

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import dvflow
from tests.conftest import TmpDir, dvflow_exe, run


def test_version_and_help_import_neither_mlflow_nor_dvc(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from dvflow.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('mlflow', 'dvc', 'pandas') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    for args in (["--version"], ["--help"]):
        out = run([sys.executable, "-c", code, *args], tmp_path).stdout
        assert "HEAVY []" in out
    shown = run([dvflow_exe(), "--version"], tmp_path).stdout.strip()
    assert shown == f"dvflow, version {dvflow.__version__}"
    assert dvflow.__version__ == version("dvflow")  # the package and its metadata agree
    assert "snapshot" in run([sys.executable, "-m", "dvflow", "--help"], tmp_path).stdout


def test_outside_a_repository_is_one_line_exit_3(tmp_path: Path) -> None:
    result = run([dvflow_exe(), "snapshot"], tmp_path, check=False)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert "not inside a git repository" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_is_usage_error(tmp_path: Path) -> None:
    result = run([dvflow_exe(), "snapshot", "--nope"], tmp_path, check=False)
    assert result.returncode == 2
    assert "No such option" in result.stderr


@pytest.mark.slow  # dvc init, dvc add and dvflow: seconds
def test_snapshot_json(dvc: TmpDir) -> None:
    dvc.gen({"data/a.csv": "1\n"})
    dvc.dvc("add", "-q", "data")
    dvc.commit("data")
    out = subprocess.run(
        [dvflow_exe(), "snapshot", "--json"],
        cwd=dvc.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    snap = json.loads(out)
    assert snap["code"]["dirty"] is False
    assert [v["path"] for v in snap["data"]] == ["data"]
    text = run([dvflow_exe(), "snapshot"], dvc.path).stdout
    assert "data" in text and "[clean]" in text


@pytest.mark.slow  # dvc init, dvc add and dvflow: seconds
def test_broken_dvc_yaml_is_one_line(dvc: TmpDir) -> None:
    dvc.gen({"dvc.yaml": "stages:\n  a: [\n"})
    result = run([dvflow_exe(), "snapshot"], dvc.path, check=False)
    assert result.returncode == 5
    assert "dvc.yaml" in result.stderr
    assert "Traceback" not in result.stderr

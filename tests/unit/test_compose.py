"""docs/docker-compose.yml, the stack a team deploys: its MLflow server is a pinned
release that dvflow supports, and the server installs that same MLflow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _mlflow_requirement() -> Requirement:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    [found] = re.findall(r'"(mlflow\s*[<>=!~][^"]*)"', pyproject)
    return Requirement(found)


def test_the_compose_mlflow_image_is_a_pinned_release_dvflow_supports() -> None:
    service = yaml.safe_load((ROOT / "docs/docker-compose.yml").read_text(encoding="utf-8"))[
        "services"
    ]["mlflow"]
    name, _, tag = service["image"].rpartition(":")
    assert name == "ghcr.io/mlflow/mlflow"
    # A release tag (vX.Y.Z), never `latest` nor a variable defaulting to it.
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), tag
    version = tag[1:]
    assert _mlflow_requirement().specifier.contains(version), (version, _mlflow_requirement())
    # pip in the container must not replace the image's MLflow with another version.
    assert f"'mlflow[auth]=={version}'" in service["command"]

"""Every use dvflow makes of DVC's internals (modules and names DVC does not publish
as API), in one place.

Each function says which internal it uses. ``tests/unit/test_integrations.py`` checks
that every one of them still exists with the shape used here, so that a DVC upgrade
that changes one fails a test instead of a user's pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

# What DVC logs when it restores a stage from its run cache instead of running it
# (dvc/stage/cache.py); there is no API that says so.
RUN_CACHE_RESTORED_MESSAGE = "is cached - skipping run"


def reproduce_stage() -> Callable[..., Any]:
    """DVC's own per-stage function of ``Repo.reproduce`` (``dvc.repo.reproduce.
    _reproduce_stage``): dvflow's ``repro_fn`` wraps it, so each stage runs exactly as
    under ``dvc repro``."""
    from dvc.repo.reproduce import _reproduce_stage

    return _reproduce_stage


def planned_stages(
    repo: Repo,
    targets: Sequence[str],
    *,
    recursive: bool,
    single_item: bool,
    downstream: bool,
    all_pipelines: bool,
) -> list[Stage]:
    """The stages ``dvc repro`` would visit, in its order (``collect_stages``,
    ``get_active_graph``, ``plan_repro`` of ``dvc.repo.reproduce``)."""
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    stages: list[Stage] = []
    if not all_pipelines:
        stages = collect_stages(repo, list(targets) or ["dvc.yaml"], recursive=recursive)
    if single_item and not all_pipelines:
        return stages
    return list(
        plan_repro(
            get_active_graph(repo.index.graph),
            stages,
            downstream=downstream and not all_pipelines,
        )
    )


def draw_graph(vertices: list[str], edges: list[tuple[str, str]]) -> str:
    """``dvc dag``'s text renderer (``dvc.dagascii.draw``)."""
    from dvc.dagascii import draw

    return str(draw(vertices, edges))


def sugiyama_layout(vertices: list[str], edges: list[tuple[str, str]]) -> Any:
    """The grandalf layout ``dvc dag`` draws from (``dvc.dagascii._build_sugiyama_layout``):
    ``.g.sV`` vertices with ``.view.xy/.w/.h``, ``.g.sE`` edges with ``.view._pts``."""
    from dvc.dagascii import _build_sugiyama_layout

    return _build_sugiyama_layout(vertices, edges)


def is_params_dependency(dep: object) -> bool:
    """Whether a stage dependency is a params file (``dvc.dependency.param.
    ParamsDependency``)."""
    from dvc.dependency.param import ParamsDependency

    return isinstance(dep, ParamsDependency)


def read_params_file(repo: Repo, path: Path) -> Any:
    """A params file parsed as DVC parses it (``dvc.dependency.param.read_param_file``:
    YAML, JSON, TOML, Python)."""
    from dvc.dependency.param import read_param_file

    return read_param_file(repo.fs, str(path))


def load_structured_file(path: Path) -> Any:
    """A JSON, YAML or TOML file through DVC's loaders (``dvc.utils.serialize.load_path``)."""
    from dvc.fs import LocalFileSystem
    from dvc.utils.serialize import load_path

    return load_path(str(path), LocalFileSystem())


def edit_yaml(path: Path) -> AbstractContextManager[Any]:
    """DVC's round-trip YAML editor, which keeps comments (``dvc.utils.serialize.
    modify_yaml``)."""
    from dvc.utils.serialize import modify_yaml

    return modify_yaml(str(path))


def top_level_plots(repo: Repo) -> Iterator[tuple[str, Any]]:
    """(dvc.yaml path, plot definition) of every top-level ``plots:`` entry
    (``Index._plots``)."""
    for dvcfile, definitions in getattr(repo.index, "_plots", {}).items():
        for definition in definitions:
            yield dvcfile, definition


def top_level_metrics(repo: Repo) -> Iterator[tuple[str, str]]:
    """(dvc.yaml path, metrics path) of every top-level ``metrics:`` entry
    (``Index._metrics``)."""
    for dvcfile, paths in getattr(repo.index, "_metrics", {}).items():
        for path in paths:
            yield dvcfile, str(path)

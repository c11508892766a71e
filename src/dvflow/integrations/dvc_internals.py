"""Every use dvflow makes of DVC's internals (modules and names DVC does not publish
as API), in one place.

Each function says which internal it uses. ``tests/unit/test_integrations.py`` checks
that every one of them still exists with the shape used here, so that a DVC upgrade
that changes one fails a test instead of a user's pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

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
    pipeline: bool = False,
    glob: bool = False,
) -> list[Stage]:
    """The stages ``dvc repro`` would visit, in its order (``collect_stages``,
    ``get_active_graph``, ``plan_repro`` of ``dvc.repo.reproduce``)."""
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    whole = all_pipelines or pipeline  # DVC drops single_item and downstream then
    stages: list[Stage] = []
    if not all_pipelines:
        targets = list(targets) or ["dvc.yaml"]
        stages = collect_stages(repo, targets, recursive=recursive, glob=glob)
    if single_item and not whole:
        return stages
    return list(
        plan_repro(
            get_active_graph(repo.index.graph),
            stages,
            pipeline=pipeline,
            downstream=downstream and not whole,
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


def read_toml_file(path: Path) -> dict[str, Any] | None:
    """A TOML file parsed with DVC's TOML reader (``dvc.utils.serialize.parse_toml``;
    the standard library has one only from Python 3.11); None if it is missing or
    unreadable."""
    from dvc.utils.serialize import ParseError, parse_toml

    try:
        data = parse_toml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, ParseError):
        return None
    return dict(data) if isinstance(data, dict) else None


def edit_yaml(path: Path) -> AbstractContextManager[Any]:
    """DVC's round-trip YAML editor, which keeps comments (``dvc.utils.serialize.
    modify_yaml``)."""
    from dvc.utils.serialize import modify_yaml

    return modify_yaml(str(path))


_TOP_LEVEL_METRICS: WeakKeyDictionary[Repo, list[str]] = WeakKeyDictionary()


def top_level_metrics(repo: Repo) -> list[str]:
    """The files of every dvc.yaml's top-level ``metrics:``, relative to the repo root
    (``dvc.repo.metrics.show._collect_top_level_metrics``, which ``Repo.metrics.show``
    calls when given no targets).

    Not ``Repo.metrics.show()`` itself: without targets it reads every metrics file
    of the project, after every stage.

    Read once per ``Repo``: DVC rebuilds its index (parsing every dvc.yaml and dvc.lock)
    after each stage it runs, so asking after every stage made the cost of a pipeline
    quadratic in its stages; the top-level declarations do not change while it runs.
    """
    found = _TOP_LEVEL_METRICS.get(repo)
    if found is None:
        from dvc.repo.metrics.show import _collect_top_level_metrics

        found = _TOP_LEVEL_METRICS[repo] = list(_collect_top_level_metrics(repo))
    return list(found)


_DECLARES_PLOTS: WeakKeyDictionary[Repo, bool] = WeakKeyDictionary()


def top_level_plot_definitions(repo: Repo) -> dict[str, Any]:
    """The top-level ``plots:`` of every dvc.yaml, as ``Repo.plots.collect()`` gives
    them: ``{dvc.yaml path: {"data": {plot_id or data file: props}}}``, a folder
    expanded to its files; ``{"error": exception}`` where a folder cannot be listed.
    Paths are relative to the current directory.

    Uses ``dvc.repo.plots._collect_pipeline_files``, which ``Repo.plots.collect``
    calls for each revision: the public reader enters ``repo.switch("workspace")``,
    whose brancher resets the repository on the way out (index, filesystem and state
    database dropped): about 0.5 s per stage in a 40-stage project.
    """
    from dvc.repo.plots import _collect_pipeline_files, onerror_collect

    # Whether any dvc.yaml declares top-level plots (``Index._plots``) is read once per
    # Repo: DVC drops its index after every stage, and building it again parses every
    # dvc.yaml and dvc.lock (0.1-0.3 s a stage in a 50-stage pipeline). Declared plots
    # are resolved on every call: a stage may have written files into a plots folder,
    # and resolving them reads DVC's file system, which needs the index anyway.
    declared = _DECLARES_PLOTS.get(repo)
    if declared is None:
        declared = _DECLARES_PLOTS[repo] = bool(repo.index._plots)
    if not declared:
        return {}
    definitions: dict[str, Any] = _collect_pipeline_files(
        repo, targets=[], props={}, onerror=onerror_collect
    )
    return definitions


def read_plot_file(repo: Repo, path: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """One plot data file parsed as ``dvc plots show`` parses it (``dvc.repo.plots.parse``):
    ``{"data": ...}`` or ``{"error": exception}``. ``path`` is repo-relative."""
    from dvc.repo.plots import onerror_collect, parse

    read: dict[str, Any] = parse(repo.dvcfs, f"/{path}", props=dict(props), onerror=onerror_collect)
    return read


def plot_datapoints(data: Any) -> list[dict[str, Any]]:
    """The rows of parsed plot data (``dvc.render.converter.vega.get_datapoints``)."""
    from dvc.render.converter.vega import get_datapoints

    return list(get_datapoints(data))


def image_extensions() -> frozenset[str]:
    """The suffixes ``dvc plots`` renders as images (``dvc.repo.plots.
    SUPPORTED_IMAGE_EXTENSIONS``)."""
    from dvc.repo.plots import SUPPORTED_IMAGE_EXTENSIONS

    return frozenset(SUPPORTED_IMAGE_EXTENSIONS)


def plot_props() -> frozenset[str]:
    """The props a plot definition may hold (``dvc.schema.PLOT_PROPS``)."""
    from dvc.schema import PLOT_PROPS

    return frozenset(PLOT_PROPS)


def dvc_info() -> str:
    """The versions and setup ``dvc doctor`` prints (``dvc.info.get_dvc_info``: DVC,
    Python, platform, DVC's subprojects, supported remotes, cache and repo types)."""
    from dvc.info import get_dvc_info

    return str(get_dvc_info())


def diff_table_text(
    diff: Mapping[str, Mapping[str, Mapping[str, Any]]],
    title: str,
    *,
    a_rev: str,
    b_rev: str,
    no_path: bool = True,
    show_changes: bool = True,
    precision: int | None = None,
    fmt: str = "plain",
) -> str:
    """A diff as ``dvc params diff`` and ``dvc metrics diff`` print it (``dvc.compare.
    diff_table``, rendered by ``TabularData.render``: plain, ``md`` or ``csv``).

    ``diff`` is DVC's shape: ``{path: {name: {"old": ..., "new": ..., "diff": ...}}}``.
    """
    import contextlib
    import io

    from dvc.compare import diff_table

    table = diff_table(
        diff,
        title=title,
        no_path=no_path,
        show_changes=show_changes,
        precision=precision,
        a_rev=a_rev,
        b_rev=b_rev,
    )
    if fmt == "csv":
        return str(table.to_csv())
    out = io.StringIO()
    # DVC's table writes through its console to the sys.stdout of the moment.
    with contextlib.redirect_stdout(out):
        table.render(markdown=fmt == "md")
    return out.getvalue()


def mermaid_flowchart(vertices: list[str], edges: list[tuple[str, str]]) -> str:
    """``dvc dag --mermaid``'s writer (``dvc.commands.dag._show_mermaid``): a Mermaid
    ``flowchart TD``, one block per pipeline, nodes ``nodeN["label"]``. ``edges`` go
    from a vertex to the one it depends on; the arrows point the other way, as data
    flows."""
    import networkx as nx
    from dvc.commands.dag import _show_mermaid

    graph = nx.DiGraph()
    graph.add_nodes_from(vertices)
    graph.add_edges_from(edges)
    return str(_show_mermaid(graph))


def plot_renderers(repo: Repo, data: dict[str, Any], out: Path) -> list[Any]:
    """The renderers ``dvc plots show`` gives ``dvc_render.render_html``
    (``dvc.render.match.match_defs_renderers``), for ``Repo.plots.show()``'s data, with
    the project's vega templates; images are written into ``out``."""
    from dvc.render.match import match_defs_renderers

    matched = match_defs_renderers(data=data, out=str(out), templates_dir=repo.plots.templates_dir)
    return [found.renderer for found in matched]


def declares_top_level_plots(repo: Repo) -> bool:
    """Whether any dvc.yaml has a top-level ``plots:`` (``Index._plots``: dvc.yaml path
    -> its definitions), read without collecting the plots."""
    return any(repo.index._plots.values())

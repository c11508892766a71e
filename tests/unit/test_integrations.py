"""DVC's and MLflow's internals that dvflow uses still exist, with the shape it uses.

An upgrade of either tool that renames or reshapes one of them fails here, not in a
user's pipeline. Every function of the two adapter modules is exercised.
"""

import inspect
from pathlib import Path

import pytest

from dvflow.integrations import dvc_internals, mlflow_internals


def test_dvc_reproduce_internals_keep_their_signatures() -> None:
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    stage_fn = inspect.signature(dvc_internals.reproduce_stage())
    assert next(iter(stage_fn.parameters)) == "stage"
    assert {"recursive"} <= set(inspect.signature(collect_stages).parameters)
    assert {"downstream"} <= set(inspect.signature(plan_repro).parameters)
    assert callable(get_active_graph)


def test_dvc_logs_run_cache_restores_with_the_message_dvflow_watches() -> None:
    import dvc.stage.cache

    source = inspect.getsource(dvc.stage.cache)
    assert dvc_internals.RUN_CACHE_RESTORED_MESSAGE in source


def test_dvc_dag_renderers() -> None:
    text = dvc_internals.draw_graph(["a", "b"], [("b", "a")])
    assert "a" in text and "b" in text
    layout = dvc_internals.sugiyama_layout(["a", "b"], [("b", "a")])
    vertex = next(iter(layout.g.sV))
    assert len(vertex.view.xy) == 2 and vertex.view.w > 0 and vertex.view.h > 0
    edge = next(iter(layout.g.sE))
    assert len(edge.view._pts) >= 2


def test_dvc_files_and_params(tmp_path: Path) -> None:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\n")
    repo = Repo.init(str(tmp_path), no_scm=True)
    try:
        assert dvc_internals.read_params_file(repo, tmp_path / "params.yaml") == {
            "train": {"lr": 0.1}
        }
        with dvc_internals.edit_yaml(tmp_path / "params.yaml") as data:
            data["train"]["lr"] = 0.2
        assert "lr: 0.2" in (tmp_path / "params.yaml").read_text()
        assert not dvc_internals.is_params_dependency(object())
        assert issubclass(ParamsDependency, object)
        (tmp_path / "p.toml").write_text('[project]\ndependencies = ["x"]\n')
        (tmp_path / "bad.toml").write_text("[project\n")
        assert dvc_internals.read_toml_file(tmp_path / "p.toml") == {
            "project": {"dependencies": ["x"]}
        }
        assert dvc_internals.read_toml_file(tmp_path / "bad.toml") is None
        assert dvc_internals.top_level_metrics(repo) == []
        assert dvc_internals.top_level_plot_definitions(repo) == {}
        assert ".png" in dvc_internals.image_extensions()
        assert {"x", "y", "template"} <= dvc_internals.plot_props()
    finally:
        repo.close()


def test_top_level_metrics_are_read_once_per_repo(tmp_path: Path) -> None:
    """DVC drops its index after every stage it runs; reading the top-level metrics
    again must not rebuild it (a pipeline's cost would grow with its stages squared)."""
    from dvc.repo import Repo

    (tmp_path / "dvc.yaml").write_text("metrics:\n  - eval/metrics.json\n")
    repo = Repo.init(str(tmp_path), no_scm=True)
    try:
        assert dvc_internals.top_level_metrics(repo) == ["eval/metrics.json"]
        repo._reset()  # what DVC does once a stage has run
        assert "index" not in repo.__dict__
        assert dvc_internals.top_level_metrics(repo) == ["eval/metrics.json"]
        assert "index" not in repo.__dict__  # not rebuilt
    finally:
        repo.close()


def test_a_project_without_top_level_plots_is_read_once_per_repo(tmp_path: Path) -> None:
    """Without top-level plots, asking again after a stage does not rebuild DVC's
    index; with them, a folder's files are listed again (a stage may write one)."""
    from dvc.repo import Repo

    (tmp_path / "dvc.yaml").write_text("metrics:\n  - eval/metrics.json\n")
    repo = Repo.init(str(tmp_path), no_scm=True)
    try:
        assert dvc_internals.top_level_plot_definitions(repo) == {}
        repo._reset()  # what DVC does once a stage has run
        assert dvc_internals.top_level_plot_definitions(repo) == {}
        assert "index" not in repo.__dict__  # not rebuilt
    finally:
        repo.close()
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "dvc.yaml").write_text("plots:\n  - plots:\n      x: x\n")
    repo = Repo(str(tmp_path))
    try:
        first = dvc_internals.top_level_plot_definitions(repo)
        assert set(first["dvc.yaml"]["data"]) == {"plots/a.csv"}
        repo._reset()
        (tmp_path / "plots" / "b.csv").write_text("x,y\n1,2\n")
        again = dvc_internals.top_level_plot_definitions(repo)
        assert set(again["dvc.yaml"]["data"]) == {"plots/a.csv", "plots/b.csv"}
    finally:
        repo.close()


def test_dvc_info_shows_what_dvc_doctor_shows() -> None:
    import dvc

    info = dvc_internals.dvc_info()
    assert f"DVC version: {dvc.__version__}" in info and "Platform: Python" in info


def test_mlflow_limits_and_validators() -> None:
    for name in mlflow_internals.__all__:
        if name.startswith("MAX_"):
            assert (
                isinstance(getattr(mlflow_internals, name), int)
                and getattr(mlflow_internals, name) > 0
            )
    assert mlflow_internals.is_valid_key("train.lr")
    assert mlflow_internals.is_valid_key("eval/metrics.json:acc")
    assert not mlflow_internals.is_valid_key("bad key!")
    assert not mlflow_internals.is_valid_key("../escape")


def test_mlflow_sqlite_schema_creation(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import logging
    import sqlite3

    db = tmp_path / "mlflow.db"
    mlflow_internals.create_sqlite_schema(f"sqlite:///{db}", tmp_path / "artifacts")
    with sqlite3.connect(db) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version
    # Quietly, and MLflow's logger is left as it was.
    assert "database tables" not in capfd.readouterr().err
    assert logging.getLogger("mlflow.store.db.utils").level == logging.NOTSET


@pytest.mark.parametrize("module", [dvc_internals, mlflow_internals])
def test_adapters_are_the_only_users_of_internals(module: object) -> None:
    # The rest of the package reaches these internals only through the adapters.
    package = Path(dvc_internals.__file__).parents[1]
    needles = {
        dvc_internals: (
            "dvc.repo.reproduce",
            "dvc.dagascii",
            "dvc.dependency.param",
            "dvc.utils.serialize",
            "._plots",
            "._metrics",
        ),
        mlflow_internals: ("mlflow.utils.validation", "mlflow.store."),
    }[module]  # type: ignore[index]
    own = Path(module.__file__)  # type: ignore[attr-defined]
    offenders = [
        f"{path.relative_to(package)}: {needle}"
        for path in package.rglob("*.py")
        if path != own and "templates" not in path.parts
        for needle in needles
        if needle in path.read_text()
    ]
    assert offenders == []


def test_dvc_top_level_results_internals_keep_their_signatures() -> None:
    import inspect

    from dvc.repo.metrics.show import _collect_top_level_metrics
    from dvc.repo.plots import _collect_pipeline_files

    assert list(inspect.signature(_collect_top_level_metrics).parameters) == ["repo"]
    assert list(inspect.signature(_collect_pipeline_files).parameters) == [
        "repo",
        "targets",
        "props",
        "onerror",
    ]


def test_dvc_diff_tables_render_plain_markdown_and_csv() -> None:
    diff = {"params.yaml": {"train.lr": {"old": 0.1, "new": 0.2, "diff": 0.1}}}
    plain = dvc_internals.diff_table_text(diff, "Param", a_rev="a1", b_rev="b2")
    assert plain.split("\n")[0].split() == ["Param", "a1", "b2", "Change"]
    assert plain.split("\n")[1].split() == ["train.lr", "0.1", "0.2", "0.1"]
    md = dvc_internals.diff_table_text(diff, "Param", a_rev="a1", b_rev="b2", fmt="md")
    assert md.startswith("| Param ") and "|--" in md
    csv = dvc_internals.diff_table_text(
        diff, "Param", a_rev="a1", b_rev="b2", no_path=False, show_changes=False, fmt="csv"
    )
    assert csv.splitlines() == ["Path,Param,a1,b2", "params.yaml,train.lr,0.1,0.2"]


def test_the_vega_scripts_shipped_are_the_ones_dvc_render_links() -> None:
    """An upgrade of dvc_render that names other versions fails here: ship those."""
    import re
    from importlib.resources import files

    from dvc_render.vega import VegaRenderer

    from dvflow.repro.report import VENDORED_SCRIPTS

    linked = dict(re.findall(r"cdn\.jsdelivr\.net/npm/([\w-]+)@([\w.-]+)", VegaRenderer.SCRIPTS))
    assert linked == VENDORED_SCRIPTS
    for name in linked:
        assert files("dvflow.repro").joinpath(f"vega/{name}.min.js").is_file()

"""The parent run of `dvflow repro`: lineage (SVG, text, Mermaid) and the HTML report of
the stage plots, rendered by DVC's own renderers."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs, dvflow

pytestmark = pytest.mark.slow  # real dvc and mlflow processes

TRAIN = """\
import json
rows = ["actual,predicted", "cat,cat", "cat,dog", "dog,dog"]
open("confusion.csv", "w").write("\\n".join(rows) + "\\n")
json.dump({"roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.25, "tpr": 0.875}]}, open("roc.json", "w"))
json.dump({"acc": 0.75}, open("metrics.json", "w"))
open("model.bin", "w").write("model")
"""

PIPELINE = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    outs: [model.bin]
    metrics: [metrics.json: {cache: false}]
    plots:
      - confusion.csv: {template: confusion, x: actual, y: predicted, cache: false}
      - roc.json: {x: fpr, y: tpr, cache: false}
"""


class _Page(HTMLParser):
    """Fails on what html.parser cannot take; keeps tags and the script text."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "script":
            self.scripts.append(data)


def test_parent_run_has_lineage_and_plots_report(
    dvc: TmpDir, tracking_uri: str, client: Any
) -> None:
    dvc.gen({"train.py": TRAIN, "dvc.yaml": PIPELINE})
    dvc.commit("pipeline")
    dvflow(dvc, "repro")
    (parent,) = [r for r in all_runs(client) if r.data.tags.get(tags.KIND) == tags.KIND_PIPELINE]
    run_id = parent.info.run_id

    def artifact(name: str) -> str:
        return Path(client.download_artifacts(run_id, f"dvflow/{name}")).read_text()

    mermaid = artifact("lineage.mmd")
    assert mermaid.startswith("flowchart TD") and "classDef ran" in mermaid
    for output in ("model.bin", "metrics.json", "confusion.csv", "roc.json"):
        assert output in mermaid
        assert output in artifact("lineage.svg")
        assert output in artifact("lineage.txt")
    assert 'marker-end="url(#arrow)"' in artifact("lineage.svg")

    page = _Page()
    report = artifact("report.html")
    page.feed(report)
    page.close()
    assert page.open == [] and {"html", "body", "script"} <= page.seen
    data = "".join(page.scripts)
    # The plot data, in the vega specs DVC's templates made.
    assert '"actual": "dog"' in data or '"actual":"dog"' in data
    assert "0.875" in data
    # The vega scripts are in the page: nothing is fetched from a network.
    assert "cdn.jsdelivr.net" not in report and 'src="http' not in report
    assert "vegaEmbed" in data
    _draws_in_a_browser(report, dvc.path.parent / "report.html", plots=2)


def _draws_in_a_browser(report: str, path: Path, plots: int) -> None:
    """Open the report in headless Chromium with every network request refused: each
    plot draws, and the page logs no error. Skipped where no browser is installed (the
    checks above still hold: valid HTML with the data and the scripts inside)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    path.write_text(report, encoding="utf-8")
    errors: list[str] = []
    fetched: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            def refuse(route: Any) -> None:
                if not route.request.url.startswith("file:"):
                    fetched.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            page.route("**/*", refuse)
            page.goto(path.as_uri())
            drawn = ".vega-embed svg, .vega-embed canvas"
            page.wait_for_function(
                f"document.querySelectorAll({drawn!r}).length >= {plots}", timeout=30_000
            )
        finally:
            browser.close()
    assert errors == [] and fetched == []


def test_repro_ends_with_a_stage_table_and_metric_changes(
    dvc: TmpDir, tracking_uri: str, client: Any
) -> None:
    dvc.gen({"train.py": TRAIN, "dvc.yaml": PIPELINE})
    dvc.commit("pipeline")
    first = dvflow(dvc, "repro").stdout
    header = next(line for line in first.splitlines() if line.startswith("Stage"))
    assert header.split() == ["Stage", "Status", "Time", "Run", "Metrics"]
    (row,) = [line for line in first.splitlines() if line.startswith("train ")]
    (stage_run,) = [r for r in all_runs(client) if r.data.tags.get(tags.KIND) == tags.KIND_STAGE]
    assert row.split()[:2] == ["train", "ran"]
    assert stage_run.info.run_id[:12] in row and "acc=0.75" in row and "(" not in row
    dvc.commit("first run")
    dvc.gen({"train.py": TRAIN.replace('"acc": 0.75', '"acc": 0.5')})
    dvc.commit("worse")
    second = dvflow(dvc, "repro").stdout
    (row,) = [line for line in second.splitlines() if line.startswith("train ")]
    assert "acc=0.5 (-0.25)" in row

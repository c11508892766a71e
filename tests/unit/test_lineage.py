"""The lineage picture: arrows as data flows, every output, a legend, and Mermaid."""

import re
from html.parser import HTMLParser
from pathlib import Path

from dvflow.recorder.protocol import StageStatus
from dvflow.repro.lineage import Node, as_mermaid, as_svg, as_text, pictures

NODES = [
    Node("prepare", StageStatus.RAN, "aaaa1111", (("prepared.csv", "aaaa1111bbbb"),)),
    Node(
        "train",
        StageStatus.FAILED,
        "cccc2222",
        (("model.pkl", "cccc2222dddd"), ("metrics.json", None)),
    ),
    Node("other", StageStatus.SKIPPED, None),
]
EDGES = [("train", "prepare")]  # train depends on prepare


def test_mermaid_is_dvc_dag_mermaid_with_statuses_outputs_and_legend() -> None:
    chart = as_mermaid(NODES, EDGES)
    assert chart.startswith("flowchart TD")
    ids = {label: i for i, label in re.findall(r'(node\d+)\["(.*)"\]', chart)}
    # Data flows from prepare to train, and from each stage to its outputs.
    assert f"{ids['prepare [ran] aaaa1111']}-->{ids['train [failed] cccc2222']}" in chart
    assert f"{ids['train [failed] cccc2222']}-->{ids['model.pkl cccc2222']}" in chart
    assert "metrics.json" in ids
    assert f"class {ids['train [failed] cccc2222']} failed" in chart
    assert f"class {ids['model.pkl cccc2222']} output" in chart
    assert 'subgraph legend["statuses"]' in chart and "legend_not_run" in chart


class _Svg(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data.strip())


def test_svg_has_arrows_every_output_and_a_legend() -> None:
    svg = _Svg()
    svg.feed(as_svg(NODES, EDGES))
    lines = [a for t, a in svg.tags if t == "polyline"]
    # prepare->train, prepare->prepared.csv, train->model.pkl, train->metrics.json
    assert len(lines) == 4 and all(a["marker-end"] == "url(#arrow)" for a in lines)
    assert {"prepared.csv aaaa1111", "model.pkl cccc2222", "metrics.json"} <= set(svg.text)
    assert {s.value for s in StageStatus} <= set(svg.text)  # the legend
    outputs = [a for t, a in svg.tags if t == "rect" and a.get("class") == "output"]
    assert len(outputs) == 3


def test_text_lists_outputs_and_the_legend() -> None:
    text = as_text(NODES, EDGES)
    assert "train -> model.pkl cccc2222" in text
    assert "statuses: ran (stage ran)" in text
    assert set(pictures(NODES, EDGES)) == {"lineage.txt", "lineage.svg", "lineage.mmd"}


def test_no_report_for_a_project_without_plots(tmp_path: Path) -> None:
    import subprocess

    from dvc.repo import Repo

    from dvflow.integrations.dvc_internals import declares_top_level_plots
    from dvflow.repro.report import plots_report

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    with Repo.init(str(tmp_path)) as repo:
        assert not declares_top_level_plots(repo)
        assert plots_report(repo) is None

"""The lineage picture of a pipeline: its stage graph with arrows as data flows, every
output of every stage with its DVC hash, and a legend of the statuses, as text (DVC's
own ``dvc dag`` renderer), SVG (the same layout) and Mermaid (``dvc dag --mermaid``'s
writer, for pull-request comments), viewable in MLflow's artifact browser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from dvflow.recorder.protocol import StageStatus

_CHAR_W = 8.0  # pixels per layout column
_LINE_H = 18.0  # pixels per layout line
_COLOURS = {
    StageStatus.RAN: "#d8f5d0",
    StageStatus.SKIPPED: "#e8eef7",
    StageStatus.FAILED: "#f9d0d0",
    StageStatus.NOT_RUN: "#eeeeee",
    StageStatus.RESTORED: "#fff2c6",
    StageStatus.KILLED: "#f9d0d0",
}
_OUTPUT_COLOUR = "#ffffff"
_OUTPUT_CLASS = "output"


@dataclass(frozen=True)
class Node:
    """One stage of the picture, with its outputs (path, DVC hash) in ``dvc.yaml``'s
    order."""

    address: str
    status: StageStatus
    hash: str | None
    outputs: tuple[tuple[str, str | None], ...] = ()

    @property
    def label(self) -> str:
        short = f" {self.hash[:8]}" if self.hash else ""
        return f"{self.address} [{self.status.value}]{short}"


def output_label(path: str, hash_value: str | None) -> str:
    """An output's box: its path and the first characters of its hash.

    >>> output_label("data/prepared.csv", "1a2b3c4d5e6f")
    'data/prepared.csv 1a2b3c4d'
    """
    return f"{path} {hash_value[:8]}" if hash_value else path


def _with_outputs(
    nodes: list[Node], edges: list[tuple[str, str]]
) -> tuple[list[str], list[tuple[str, str]], dict[str, Node | None]]:
    """Labels and label edges of the whole picture: stages, and each stage's outputs as
    boxes that depend on it. ``kinds`` maps a label to its stage (None: an output)."""
    labels = {node.address: node.label for node in nodes}
    kinds: dict[str, Node | None] = {node.label: node for node in nodes}
    vertices = list(labels.values())
    label_edges = [(labels[a], labels[b]) for a, b in edges]
    for node in nodes:
        for path, hash_value in node.outputs:
            label = output_label(path, hash_value)
            if label not in kinds:
                kinds[label] = None
                vertices.append(label)
            label_edges.append((label, node.label))
    return vertices, label_edges, kinds


def components(
    nodes: list[Node], edges: list[tuple[str, str]]
) -> list[tuple[list[Node], list[tuple[str, str]]]]:
    """Split the graph into its separate pipelines (weakly connected components), in the
    order their first node appears, as ``dvc dag`` shows them one after the other."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(node.address for node in nodes)
    graph.add_edges_from(edges)
    order = {node.address: i for i, node in enumerate(nodes)}
    parts = sorted(nx.connected_components(graph), key=lambda c: min(order[a] for a in c))
    return [
        ([n for n in nodes if n.address in part], [e for e in edges if e[0] in part])
        for part in parts
    ]


def legend() -> str:
    """The statuses and what their colours mean, one line.

    >>> legend().startswith("statuses: ran (stage ran)")
    True
    """
    return "statuses: " + ", ".join(f"{s.value} ({_MEANING[s]})" for s in _COLOURS)


_MEANING = {
    StageStatus.RAN: "stage ran",
    StageStatus.SKIPPED: "up to date, DVC skipped it",
    StageStatus.FAILED: "stage failed",
    StageStatus.NOT_RUN: "not run after a failure",
    StageStatus.RESTORED: "restored from DVC's run cache",
    StageStatus.KILLED: "interrupted",
}


def as_text(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """The graph drawn with DVC's ``dvc dag`` renderer, one pipeline after the other
    (``edges`` go from a stage to the stage it depends on), then every stage's outputs
    and the legend."""
    from dvflow.integrations.dvc_internals import draw_graph

    drawings = []
    for part_nodes, part_edges in components(nodes, edges):
        labels = {node.address: node.label for node in part_nodes}
        drawings.append(
            draw_graph(list(labels.values()), [(labels[a], labels[b]) for a, b in part_edges])
        )
    outputs = [
        f"  {node.address} -> {output_label(path, hash_value)}"
        for node in nodes
        for path, hash_value in node.outputs
    ]
    tail = ["outputs:", *outputs] if outputs else []
    return "\n\n".join(drawings) + "\n\n" + "\n".join([*tail, legend()]) + "\n"


def _layout(
    vertices: list[str], edges: list[tuple[str, str]]
) -> tuple[list[Any], list[Any], list[tuple[str, str]]]:
    """Boxes (x, y, w, h, label), polylines and their (dependent, dependency) labels, in
    pixels, from DVC's (grandalf's) Sugiyama layout."""
    from dvflow.integrations.dvc_internals import sugiyama_layout

    layout = sugiyama_layout(vertices, edges)
    boxes = []
    for vertex in layout.g.sV:
        x = (vertex.view.xy[0] - vertex.view.w / 2.0) * _CHAR_W
        y = vertex.view.xy[1] * _LINE_H
        w, h = vertex.view.w * _CHAR_W, vertex.view.h * _LINE_H
        boxes.append((x, y, w, h, str(vertex.data).strip()))
    lines = [[(px * _CHAR_W, py * _LINE_H) for px, py in edge.view._pts] for edge in layout.g.sE]
    ends = [(str(e.v[0].data).strip(), str(e.v[1].data).strip()) for e in layout.g.sE]
    return boxes, lines, ends


def _pointing_to(points: list[Any], box: tuple[float, float, float, float]) -> list[Any]:
    """The polyline ordered so that it ends at ``box`` (where the arrowhead goes)."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2

    def far(p: Any) -> float:
        return float((p[0] - cx) ** 2 + (p[1] - cy) ** 2)

    return points if far(points[-1]) <= far(points[0]) else list(reversed(points))


def as_svg(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """The same graph as an SVG picture, pipelines stacked top to bottom: arrows from a
    stage to what uses its outputs, each output a white box under its stage, and a
    legend of the statuses at the bottom."""
    if not nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0"/>\n'
    boxes: list[Any] = []
    lines: list[Any] = []
    offset = 0.0
    kinds: dict[str, Node | None] = {}
    for part_nodes, part_edges in components(nodes, edges):
        vertices, label_edges, part_kinds = _with_outputs(part_nodes, part_edges)
        kinds.update(part_kinds)
        part_boxes, part_lines, ends = _layout(vertices, label_edges)
        by_label = {b[4]: b for b in part_boxes}
        top = min(b[1] for b in part_boxes)
        shift = offset - top
        boxes += [(x, y + shift, w, h, n) for x, y, w, h, n in part_boxes]
        for points, (dependent, _) in zip(part_lines, ends, strict=True):
            ordered = _pointing_to(points, by_label[dependent][:4])
            lines.append([(px, py + shift) for px, py in ordered])
        offset = max(b[1] + b[3] for b in boxes) + 2 * _LINE_H
    legend_y = offset
    xs = [v for x, _, w, _, _ in boxes for v in (x, x + w)] + [p[0] for ln in lines for p in ln]
    ys = [v for _, y, _, h, _ in boxes for v in (y, y + h)] + [p[1] for ln in lines for p in ln]
    pad = 10.0
    minx, miny = min(xs) - pad, min(ys) - pad
    legend_w = 150.0 * len(_COLOURS)
    width = max(max(xs) - minx, legend_w) + pad
    height = legend_y + 2 * _LINE_H - miny + pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="{minx:.1f} {miny:.1f} {width:.1f} {height:.1f}" font-family="monospace" '
        'font-size="13">',
        "<title>dvflow lineage</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for points in lines:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="#555" stroke-width="1.5" '
            'marker-end="url(#arrow)"/>'
        )
    for x, y, w, h, label in boxes:
        node = kinds.get(label)
        colour = _COLOURS.get(node.status, "#ffffff") if node else _OUTPUT_COLOUR
        dash = "" if node else ' stroke-dasharray="4 3"'
        kind = f"stage {node.status.value}" if node else _OUTPUT_CLASS
        parts.append(
            f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'rx="6" fill="{colour}" stroke="#333"{dash}/>'
        )
        parts.append(
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append('<g class="legend">')
    for i, (status, colour) in enumerate(_COLOURS.items()):
        x = minx + pad + 150.0 * i
        parts.append(
            f'<rect x="{x:.1f}" y="{legend_y:.1f}" width="14" height="14" fill="{colour}" '
            'stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x + 20:.1f}" y="{legend_y + 12:.1f}">{escape(status.value)}</text>'
        )
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def as_mermaid(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """The same graph as Mermaid, written by ``dvc dag --mermaid``'s own writer, with a
    class (fill colour) per status, outputs as dashed boxes, and a legend subgraph: it
    renders in GitHub and GitLab pull-request comments inside a ```` ```mermaid ```` block.
    """
    from dvflow.integrations.dvc_internals import mermaid_flowchart

    vertices, label_edges, kinds = _with_outputs(nodes, edges)
    chart = mermaid_flowchart(vertices, label_edges)
    ids = {label: node_id for node_id, label in re.findall(r'(node\d+)\["(.*)"\]', chart)}
    lines = [chart]
    for status, colour in _COLOURS.items():
        lines.append(f"\tclassDef {_css(status)} fill:{colour},stroke:#333")
    lines.append(f"\tclassDef {_OUTPUT_CLASS} fill:{_OUTPUT_COLOUR},stroke:#333,stroke-dasharray:4")
    for label, node_id in ids.items():
        node = kinds.get(label)
        lines.append(f"\tclass {node_id} {_css(node.status) if node else _OUTPUT_CLASS}")
    lines.append('\tsubgraph legend["statuses"]')
    for status in _COLOURS:
        lines.append(f'\t\tlegend_{_css(status)}["{status.value}"]:::{_css(status)}')
    lines.append("\tend")
    return "\n".join(lines) + "\n"


def _css(status: StageStatus) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", status.value)


def pictures(nodes: list[Node], edges: list[tuple[str, str]]) -> dict[str, str]:
    """Every lineage artifact of a pipeline run: artifact name -> text."""
    return {
        "lineage.txt": as_text(nodes, edges),
        "lineage.svg": as_svg(nodes, edges),
        "lineage.mmd": as_mermaid(nodes, edges),
    }

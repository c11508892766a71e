"""The lineage picture of a pipeline: its stage graph, each node with its status and
output hash, as text (DVC's own ``dvc dag`` renderer) and as SVG (the same layout),
viewable in MLflow's artifact browser."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Node:
    """One stage of the picture."""

    address: str
    status: StageStatus
    hash: str | None

    @property
    def label(self) -> str:
        short = f" {self.hash[:8]}" if self.hash else ""
        return f"{self.address} [{self.status.value}]{short}"


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


def as_text(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """The graph drawn with DVC's ``dvc dag`` renderer, one pipeline after the other;
    ``edges`` go from a stage to the stage it depends on."""
    from dvflow.integrations.dvc_internals import draw_graph

    drawings = []
    for part_nodes, part_edges in components(nodes, edges):
        labels = {node.address: node.label for node in part_nodes}
        drawings.append(
            draw_graph(list(labels.values()), [(labels[a], labels[b]) for a, b in part_edges])
        )
    return "\n\n".join(drawings) + "\n"


def _layout(nodes: list[Node], edges: list[tuple[str, str]]) -> tuple[list[Any], list[Any]]:
    """Boxes (x, y, w, h, node) and polylines of one pipeline, in pixels, from DVC's
    (grandalf's) Sugiyama layout."""
    from dvflow.integrations.dvc_internals import sugiyama_layout

    by_label = {node.label: node for node in nodes}
    labels = {node.address: node.label for node in nodes}
    layout = sugiyama_layout(list(labels.values()), [(labels[a], labels[b]) for a, b in edges])
    boxes = []
    for vertex in layout.g.sV:
        x = (vertex.view.xy[0] - vertex.view.w / 2.0) * _CHAR_W
        y = vertex.view.xy[1] * _LINE_H
        w, h = vertex.view.w * _CHAR_W, vertex.view.h * _LINE_H
        boxes.append((x, y, w, h, by_label[str(vertex.data).strip()]))
    lines = [[(px * _CHAR_W, py * _LINE_H) for px, py in edge.view._pts] for edge in layout.g.sE]
    return boxes, lines


def as_svg(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """The same graph as an SVG picture, pipelines stacked top to bottom."""
    if not nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0"/>\n'
    boxes: list[Any] = []
    lines: list[Any] = []
    offset = 0.0
    for part_nodes, part_edges in components(nodes, edges):
        part_boxes, part_lines = _layout(part_nodes, part_edges)
        top = min(b[1] for b in part_boxes)
        shift = offset - top
        boxes += [(x, y + shift, w, h, n) for x, y, w, h, n in part_boxes]
        lines += [[(px, py + shift) for px, py in line] for line in part_lines]
        offset = max(b[1] + b[3] for b in boxes) + 2 * _LINE_H
    xs = [v for x, _, w, _, _ in boxes for v in (x, x + w)] + [p[0] for ln in lines for p in ln]
    ys = [v for _, y, _, h, _ in boxes for v in (y, y + h)] + [p[1] for ln in lines for p in ln]
    pad = 10.0
    minx, miny = min(xs) - pad, min(ys) - pad
    width, height = max(xs) - minx + pad, max(ys) - miny + pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="{minx:.1f} {miny:.1f} {width:.1f} {height:.1f}" font-family="monospace" '
        'font-size="13">',
        "<title>dvflow lineage</title>",
    ]
    for points in lines:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#555" stroke-width="1.5"/>')
    for x, y, w, h, node in boxes:
        colour = _COLOURS.get(node.status, "#ffffff")
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
            f'fill="{colour}" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle">'
            f"{escape(node.label)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"

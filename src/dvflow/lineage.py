"""The lineage picture of a pipeline: its stage graph, each node with its status and
output hash, as text (DVC's own ``dvc dag`` renderer) and as SVG (the same layout),
viewable in MLflow's artifact browser."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

_CHAR_W = 8.0  # pixels per layout column
_LINE_H = 18.0  # pixels per layout line
_COLOURS = {
    "ran": "#d8f5d0",
    "skipped": "#e8eef7",
    "failed": "#f9d0d0",
    "not-run": "#eeeeee",
    "restored": "#fff2c6",
    "killed": "#f9d0d0",
}


@dataclass(frozen=True)
class Node:
    """One stage of the picture."""

    address: str
    status: str
    hash: str | None

    @property
    def label(self) -> str:
        short = f" {self.hash[:8]}" if self.hash else ""
        return f"{self.address} [{self.status}]{short}"


def as_text(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """The graph drawn with DVC's ``dvc dag`` renderer; ``edges`` go from a stage to the
    stage it depends on."""
    from dvc.dagascii import draw

    labels = {node.address: node.label for node in nodes}
    if not edges:
        return "\n".join(labels.values()) + "\n"
    return draw(list(labels.values()), [(labels[a], labels[b]) for a, b in edges]) + "\n"


def as_svg(nodes: list[Node], edges: list[tuple[str, str]]) -> str:
    """The same graph as an SVG picture, laid out by DVC's (grandalf's) Sugiyama layout."""
    from dvc.dagascii import _build_sugiyama_layout

    by_label = {node.label: node for node in nodes}
    labels = {node.address: node.label for node in nodes}
    layout = _build_sugiyama_layout(
        list(labels.values()), [(labels[a], labels[b]) for a, b in edges]
    )
    boxes = []
    xs: list[float] = []
    ys: list[float] = []
    for vertex in layout.g.sV:
        x = (vertex.view.xy[0] - vertex.view.w / 2.0) * _CHAR_W
        y = vertex.view.xy[1] * _LINE_H
        w, h = vertex.view.w * _CHAR_W, vertex.view.h * _LINE_H
        boxes.append((x, y, w, h, by_label[str(vertex.data).strip()]))
        xs += [x, x + w]
        ys += [y, y + h]
    lines = []
    for edge in layout.g.sE:
        points = [(px * _CHAR_W, py * _LINE_H) for px, py in edge.view._pts]
        lines.append(points)
        xs += [p[0] for p in points]
        ys += [p[1] for p in points]
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

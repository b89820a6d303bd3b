"""The event catalog's service graph: a deterministic layout and its SVG shapes.

Services sit on an ellipse, ordered so that services that talk are neighbours; every
(producer, consumer) pair is one curved arrow whose tooltip lists the messages it carries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Edge", "GraphView", "Node", "layout"]

_RX, _RY = 430.0, 300.0
_MARGIN_X, _MARGIN_Y = 90.0, 40.0
_NODE_H = 26.0
_CHAR_W = 7.4
_BEND = 0.12
_HUB_RX, _HUB_RY = 0.0, 90.0


@dataclass(frozen=True, slots=True)
class Node:
    """A service's box: its centre, size and the link to its page."""

    name: str
    x: str
    y: str
    left: str
    top: str
    width: str
    height: str
    text_y: str
    href: str
    tooltip: str


@dataclass(frozen=True, slots=True)
class Edge:
    """An arrow from a producer to a consumer, with the messages it carries."""

    source: str
    target: str
    path: str
    kind: str
    tooltip: str


@dataclass(frozen=True, slots=True)
class GraphView:
    """Everything the SVG template places."""

    width: str
    height: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _f(value: float) -> str:
    """A coordinate with one decimal: stable text on every platform."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _order(names: list[str], links: dict[tuple[str, str], list[str]]) -> list[str]:
    """Services in ring order: each next one is the most connected to those already placed."""
    weight: dict[tuple[str, str], int] = {}
    for (a, b), messages in links.items():
        for pair in ((a, b), (b, a)):
            weight[pair] = weight.get(pair, 0) + len(messages)
    degree = {n: sum(w for (a, _), w in weight.items() if a == n) for n in names}
    placed: list[str] = []
    rest = sorted(names, key=lambda n: (-degree[n], n))
    while rest:
        if placed:
            rest.sort(key=lambda n: (-sum(weight.get((n, p), 0) for p in placed), -degree[n], n))
        placed.append(rest.pop(0))
    return placed


def _hubs(names: list[str], links: dict[tuple[str, str], list[tuple[str, str]]]) -> list[str]:
    """Services that hear from a large share of the others: drawn inside the ring."""
    producers = {n: {s for (s, t) in links if t == n and s != n} for n in names}
    talking = {n for pair in links for n in pair}
    threshold = max(3, 0.4 * len(talking))
    return sorted(n for n in names if len(producers[n]) >= threshold)


def _clip(cx: float, cy: float, hw: float, hh: float, tx: float, ty: float) -> tuple[float, float]:
    """Where the segment from a box's centre towards (tx, ty) leaves the box (plus a gap)."""
    dx, dy = tx - cx, ty - cy
    scale = min(
        (hw + 3) / abs(dx) if dx else math.inf,
        (hh + 3) / abs(dy) if dy else math.inf,
    )
    return cx + dx * scale, cy + dy * scale


def layout(
    services: list[str],
    links: dict[tuple[str, str], list[tuple[str, str]]],
    *,
    href: str = "services/{}.html",
) -> GraphView:
    """Place `services` and draw one arrow per (producer, consumer) of `links`.

    `links` maps a pair to its messages as (name, kind) with kind `event` or `command`.
    """
    names = sorted(services)
    hubs = _hubs(names, links)
    ring = _order(
        [n for n in names if n not in hubs], {k: [m for m, _ in v] for k, v in links.items()}
    )
    cx, cy = _RX + _MARGIN_X, _RY + _MARGIN_Y
    centre: dict[str, tuple[float, float, float]] = {}
    for names_here, rx, ry in ((ring, _RX, _RY), (hubs, _HUB_RX, _HUB_RY)):
        for i, name in enumerate(names_here):
            angle = -math.pi / 2 + 2 * math.pi * i / len(names_here)
            if len(names_here) == 1:
                rx = ry = 0.0
            width = len(name) * _CHAR_W + 18
            centre[name] = (cx + rx * math.cos(angle), cy + ry * math.sin(angle), width)
    nodes = tuple(_node(name, *centre[name], links, href) for name in names)
    edges = tuple(
        _edge(source, target, centre, messages)
        for (source, target), messages in sorted(links.items())
        if source != target
    )
    return GraphView(_f(2 * cx), _f(2 * cy), nodes, edges)


def _node(
    name: str,
    x: float,
    y: float,
    width: float,
    links: dict[tuple[str, str], list[tuple[str, str]]],
    href: str,
) -> Node:
    sent = sum(len(m) for (s, _), m in links.items() if s == name)
    received = sum(len(m) for (_, t), m in links.items() if t == name)
    return Node(
        name=name,
        x=_f(x),
        y=_f(y),
        left=_f(x - width / 2),
        top=_f(y - _NODE_H / 2),
        width=_f(width),
        height=_f(_NODE_H),
        text_y=_f(y + 4.5),
        href=href.format(name),
        tooltip=f"{name}: {sent} message flows out, {received} in",
    )


def _edge(
    source: str,
    target: str,
    centre: dict[str, tuple[float, float, float]],
    messages: list[tuple[str, str]],
) -> Edge:
    (x1, y1, w1), (x2, y2, w2) = centre[source], centre[target]
    # Bend to the right of the direction of travel, so A->B and B->A never overlap.
    qx = (x1 + x2) / 2 - (y2 - y1) * _BEND
    qy = (y1 + y2) / 2 + (x2 - x1) * _BEND
    sx, sy = _clip(x1, y1, w1 / 2, _NODE_H / 2, qx, qy)
    ex, ey = _clip(x2, y2, w2 / 2, _NODE_H / 2 + 4, qx, qy)
    kinds = {kind for _, kind in messages}
    names = ", ".join(sorted(m for m, _ in messages))
    return Edge(
        source=source,
        target=target,
        path=f"M{_f(sx)},{_f(sy)} Q{_f(qx)},{_f(qy)} {_f(ex)},{_f(ey)}",
        kind="command" if kinds == {"command"} else "event",
        tooltip=f"{source} \u2192 {target}: {names}",
    )

"""Grafana dashboards generated from the catalog (`generated/grafana/<service>.json`).

One dashboard per service, importable as it stands (Grafana's dashboard model, a
`datasource` variable choosing the Prometheus that scrapes the platform). Its rows:

- HTTP: per REST operation, p50 and the `x-slo` percentile (p99 without one) against the
  objective's latency drawn as a threshold line; request rate by operation; 5xx ratio.
- Consumers: lag by durable, handler latency (p50/p99) and outcomes by operation, dead
  letters.
- Outbox: events recorded but not yet published (a service that sends events).
- Sagas: sagas by step and overdue (the services hosting a saga, `SAGA_SERVICES`).

Every series is one the runtime exports (`runtime/observability.py`, `runtime/http/app.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codegen.model import LatencyObjective, Service

__all__ = ["DASHBOARD_FOLDER", "SAGA_SERVICES", "SCHEMA_VERSION", "dashboard", "render_dashboard"]

DASHBOARD_FOLDER = "grafana"
SCHEMA_VERSION = 39
"""Grafana 10.4's dashboard model; later versions migrate it on import."""
SAGA_SERVICES = frozenset({"order"})
"""Services whose runtime sets `a4co_sagas` (`services/order/service.py`); contracts do not
declare sagas, so the list lives here."""
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_WINDOW = "5m"
_WIDTH, _HEIGHT, _COLUMNS = 12, 8, 2


@dataclass(slots=True)
class _Layout:
    """Places panels two to a line, under full-width rows, and numbers them."""

    panels: list[dict[str, Any]] = field(default_factory=list)
    y: int = 0
    column: int = 0

    def row(self, title: str) -> None:
        """Start a section: a collapsed-off row across the width."""
        self._close_line()
        self._add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.y += 1

    def panel(self, panel: dict[str, Any]) -> None:
        """Place a panel in the next free half of the line."""
        self._add(panel, _WIDTH, _HEIGHT, x=self.column * _WIDTH)
        self.column += 1
        if self.column == _COLUMNS:
            self._close_line()

    def _close_line(self) -> None:
        if self.column:
            self.y += _HEIGHT
            self.column = 0

    def _add(self, panel: dict[str, Any], w: int, h: int, x: int = 0) -> None:
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": h, "w": w, "x": x, "y": self.y}
        self.panels.append(panel)


def _target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    return {"refId": ref, "datasource": _DATASOURCE, "expr": expr, "legendFormat": legend}


def _timeseries(
    title: str, targets: list[tuple[str, str]], unit: str, threshold: float | None = None
) -> dict[str, Any]:
    """A time-series panel of `(expr, legend)` targets, with an optional red threshold line."""
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if threshold is not None:
        steps.append({"color": "red", "value": threshold})
    mode = "line" if threshold is not None else "off"
    return {
        "type": "timeseries",
        "title": title,
        "datasource": _DATASOURCE,
        "targets": [_target(chr(ord("A") + i), e, legend) for i, (e, legend) in enumerate(targets)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {"thresholdsStyle": {"mode": mode}},
                "thresholds": {"mode": "absolute", "steps": steps},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
    }


def _quantile(q: float, histogram: str, match: str, by: str = "") -> str:
    labels = f"{by}, le" if by else "le"
    rate = f"rate({histogram}_bucket{{{match}}}[{_WINDOW}])"
    return f"histogram_quantile({q:g}, sum by ({labels}) ({rate}))"


def _latency_panel(
    title: str, histogram: str, match: str, slo: LatencyObjective | None
) -> dict[str, Any]:
    """p50 and the objective's percentile (p99 without one) against its latency."""
    percentile = slo.percentile if slo is not None else 99.0
    targets = [
        (_quantile(0.5, histogram, match), "p50"),
        (_quantile(percentile / 100, histogram, match), f"p{percentile:g}"),
    ]
    suffix = f" ({slo})" if slo is not None else ""
    return _timeseries(f"{title}{suffix}", targets, "s", slo.latency if slo else None)


def _http(layout: _Layout, service: Service) -> None:
    if not service.endpoints:
        return
    layout.row("HTTP")
    own = f'service="{service.name}"'
    for e in sorted(service.endpoints, key=lambda e: e.operation_id):
        match = f'{own},operation="{e.operation_id}"'
        layout.panel(_latency_panel(e.operation_id, "a4co_http_request_seconds", match, e.slo))
    rate = f"sum by (operation) (rate(a4co_http_request_seconds_count{{{own}}}[{_WINDOW}]))"
    layout.panel(_timeseries("Requests by operation", [(rate, "{{operation}}")], "reqps"))
    failed = f'sum(rate(http_requests_total{{{own},status=~"5.."}}[{_WINDOW}]))'
    answered = f"sum(rate(http_requests_total{{{own}}}[{_WINDOW}]))"
    layout.panel(_timeseries("5xx ratio", [(f"{failed} / {answered}", "5xx")], "percentunit"))


def _consumers(layout: _Layout, service: Service) -> None:
    if not service.receives:
        return
    layout.row("Consumers")
    own = f'service="{service.name}"'
    lag = f"max by (durable) (a4co_consumer_pending{{{own}}})"
    layout.panel(_timeseries("Lag by durable", [(lag, "{{durable}}")], "short"))
    for op in sorted(service.receives, key=lambda o: o.key):
        if op.slo is not None:
            match = f'{own},operation="{op.key}"'
            layout.panel(_latency_panel(op.key, "a4co_handler_seconds", match, op.slo))
    quantiles = [
        (
            _quantile(q, "a4co_handler_seconds", own, by="operation"),
            f"p{q * 100:g} {{{{operation}}}}",
        )
        for q in (0.5, 0.99)
    ]
    layout.panel(_timeseries("Handler latency", quantiles, "s"))
    by = "sum by (operation, outcome) "
    outcomes = f"{by}(rate(a4co_handler_outcomes_total{{{own}}}[{_WINDOW}]))"
    layout.panel(_timeseries("Handler outcomes", [(outcomes, "{{operation}} {{outcome}}")], "ops"))
    dead = f"max by (durable) (a4co_dead_letters{{{own}}})"
    layout.panel(_timeseries("Dead letters", [(dead, "{{durable}}")], "short"))


def _outbox(layout: _Layout, service: Service) -> None:
    if not service.sends:
        return
    layout.row("Outbox")
    backlog = f'max(a4co_outbox_backlog{{service="{service.name}"}})'
    layout.panel(_timeseries("Outbox backlog", [(backlog, "waiting")], "short"))


def _sagas(layout: _Layout, service: Service) -> None:
    if service.name not in SAGA_SERVICES:
        return
    layout.row("Sagas")
    own = f'service="{service.name}"'
    steps = f"max by (step) (a4co_sagas{{{own}}})"
    layout.panel(_timeseries("Sagas by step", [(steps, "{{step}}")], "short"))
    overdue = f"max(a4co_sagas_overdue{{{own}}})"
    layout.panel(_timeseries("Sagas overdue", [(overdue, "overdue")], "short", threshold=1))


def _variables() -> dict[str, Any]:
    """The Prometheus datasource, chosen on import or from the dashboard's header."""
    chooser = {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }
    return {"list": [chooser]}


def dashboard(header: str, service: Service) -> dict[str, Any]:
    """The dashboard of one service."""
    layout = _Layout()
    for section in (_http, _consumers, _outbox, _sagas):
        section(layout, service)
    return {
        "uid": f"a4co-{service.name}",
        "title": f"A4CO {service.name}",
        "description": " ".join(line.lstrip("# ") for line in header.splitlines()),
        "tags": ["a4co"],
        "timezone": "utc",
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": _variables(),
        "annotations": {"list": []},
        "panels": layout.panels,
    }


def render_dashboard(header: str, service: Service) -> dict[str, str]:
    """The service's dashboard file, by its path in the output folder."""
    text = json.dumps(dashboard(header, service), indent=2, ensure_ascii=False)
    return {f"{DASHBOARD_FOLDER}/{service.name}.json": f"{text}\n"}

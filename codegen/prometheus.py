"""Prometheus alert rules generated from the catalog (`generated/prometheus/rules.yaml`).

Every rule reads a series the runtime exports (`runtime/observability.py`,
`runtime/http/app.py`): a durable's lag over its `max_lag`, dead letters waiting, a saga
past its deadline, an outbox backlog that keeps growing, a handler failing too often, and
each `x-slo` burning its error budget, alerted on two windows at two burn rates (the
multi-window, multi-burn-rate alerts of Google's SRE workbook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from codegen.model import AlertPolicy, Catalog, LatencyObjective, Operation

__all__ = [
    "BURN_RATES",
    "RULES_FILE",
    "SLOW_RATIO",
    "Burn",
    "Objective",
    "declared_objectives",
    "render_rules",
]

RULES_FILE = "prometheus/rules.yaml"
SLOW_RATIO = "a4co:slo_slow_ratio:rate{window}"
"""Recorded: the fraction of an objective's calls slower than its latency, over a window."""
_ERROR_WINDOW = "5m"
_HTTP_SECONDS = "a4co_http_request_seconds"
"""The HTTP app's latency histogram, labelled by the contract's operationId."""
_HANDLER_SECONDS = "a4co_handler_seconds"
"""The consumers' handler latency histogram, labelled by the receive operation's key."""


@dataclass(frozen=True, slots=True)
class Burn:
    """One burn-rate alert: the budget spent `factor` times too fast on both windows."""

    severity: str
    factor: float
    long: str
    short: str
    wait: str


BURN_RATES = (
    Burn("page", 14.4, "1h", "5m", "2m"),  # 2 % of a 30-day budget in one hour
    Burn("ticket", 6.0, "6h", "30m", "15m"),  # 5 % of it in six hours
)
_WINDOWS = sorted({w for b in BURN_RATES for w in (b.long, b.short)}, key=lambda w: (w[-1], w))


@dataclass(frozen=True, slots=True)
class Objective:
    """An `x-slo` with the histogram that measures it and the labels naming its operation."""

    kind: str
    histogram: str
    service: str
    operation: str
    slo: LatencyObjective


def _duration(seconds: float) -> str:
    """A Prometheus duration: 300.0 -> `5m`, 90.0 -> `90s`."""
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _le(seconds: float) -> str:
    """A bucket bound as prometheus_client writes its `le` label (0.5 -> `0.5`, 1 -> `1.0`)."""
    return repr(float(seconds))


def declared_objectives(catalog: Catalog) -> list[Objective]:
    """Every `x-slo` of the catalog with the histogram and labels that measure it."""
    out = []
    for name in sorted(catalog.services):
        service = catalog.services[name]
        for e in sorted(service.endpoints, key=lambda e: e.operation_id):
            if e.slo is not None:
                out.append(
                    Objective("http", "a4co_http_request_seconds", name, e.operation_id, e.slo)
                )
        for op in sorted(service.receives, key=lambda o: o.key):
            if op.slo is not None:
                out.append(Objective("handler", _HANDLER_SECONDS, name, op.key, op.slo))
    return out


def _slow_ratio(o: Objective, window: str) -> dict[str, Any]:
    """The recording rule of one objective's slow-call fraction over `window`."""
    match = f'service="{o.service}",operation="{o.operation}"'
    within = f'rate({o.histogram}_bucket{{{match},le="{_le(o.slo.latency)}"}}[{window}])'
    total = f"rate({o.histogram}_count{{{match}}}[{window}])"
    by = "sum by (service, operation) "
    return {
        "record": SLOW_RATIO.format(window=window),
        "expr": f"1 - {by}({within}) / {by}({total})",
        "labels": _labels(o),
    }


def _labels(o: Objective) -> dict[str, str]:
    """The labels naming an objective's operation (also static, so no two rules look alike)."""
    return {"kind": o.kind, "service": o.service, "operation": o.operation}


def _burn_alert(o: Objective, burn: Burn) -> dict[str, Any]:
    """Alert when the objective spends its error budget `burn.factor` times too fast."""
    threshold = round(burn.factor * o.slo.budget, 6)
    match = f'{{kind="{o.kind}",service="{o.service}",operation="{o.operation}"}}'
    long, short = SLOW_RATIO.format(window=burn.long), SLOW_RATIO.format(window=burn.short)
    return {
        "alert": "A4coLatencyBudgetBurn",
        "expr": f"{long}{match} > {threshold:g} and {short}{match} > {threshold:g}",
        "for": burn.wait,
        "labels": {"severity": burn.severity, **_labels(o), "objective": str(o.slo)},
        "annotations": {
            "summary": (
                f"{o.service} {o.operation} spends its {o.slo} error budget {burn.factor:g}"
                f" times too fast ({burn.long} and {burn.short})"
            ),
            "contract": f"{o.slo.place.file}#{o.slo.place.pointer}",
        },
    }


def _lag_alerts(catalog: Catalog, policy: AlertPolicy) -> list[dict[str, Any]]:
    """Per durable: its lag above its `max_lag` (from `x-consumer`, or the default) too long.
    A receive operation that still reads an older version has a durable on it too."""
    return [
        _lag_alert(name, op, durable, policy)
        for name in sorted(catalog.services)
        for op in sorted(catalog.services[name].receives, key=lambda o: o.durable or "")
        for _, durable in op.durables
    ]


def _lag_alert(service: str, op: Operation, durable: str, policy: AlertPolicy) -> dict[str, Any]:
    bound, wait = op.consumer.max_lag, _duration(policy.lag_for)
    lag = f'a4co_consumer_pending{{durable="{durable}"}}'
    return {
        "alert": "A4coConsumerLag",
        "expr": f"max by (service, durable) ({lag}) > {bound}",
        "for": wait,
        "labels": {"severity": "warning", "service": service, "durable": durable},
        "annotations": {
            "summary": f"{durable} has had more than {bound} messages waiting for {wait}",
        },
    }


def _platform_alerts(policy: AlertPolicy) -> list[dict[str, Any]]:
    """Dead letters, overdue sagas, growing outboxes and failing handlers."""
    failed = 'a4co_handler_outcomes_total{outcome=~"retry|dead_letter"}'
    by = "sum by (service, operation) "
    return [
        {
            "alert": "A4coDeadLetters",
            "expr": "max by (service, durable) (a4co_dead_letters) > 0",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.durable }} has {{ $value }} dead letters in the DLQ",
            },
        },
        {
            "alert": "A4coSagaPastDeadline",
            "expr": "max by (service) (a4co_sagas_overdue) > 0",
            "for": _duration(policy.saga_overdue_for),
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.service }} has sagas past their deadline, not timed out",
            },
        },
        {
            "alert": "A4coOutboxBacklogGrowing",
            "expr": "max by (service) (deriv(a4co_outbox_backlog[5m])) > 0",
            "for": _duration(policy.backlog_for),
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.service }}'s outbox backlog keeps growing",
            },
        },
        {
            "alert": "A4coHandlerErrors",
            "expr": (
                f"{by}(rate({failed}[{_ERROR_WINDOW}]))"
                f" / {by}(rate(a4co_handler_outcomes_total[{_ERROR_WINDOW}]))"
                f" > {policy.error_ratio:g}"
            ),
            "for": _duration(policy.error_for),
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": (
                    "{{ $labels.service }} {{ $labels.operation }} fails more than"
                    f" {policy.error_ratio:.0%} of its messages"
                ),
            },
        },
    ]


def _server_alerts() -> list[dict[str, Any]]:
    """A process Prometheus cannot scrape, or a server its exporter cannot reach.

    `up` covers every scraped process (services and exporters); `nats_up` and `pg_up` say
    whether the exporter reached its server, since an exporter answers while its server is down.
    """
    return [
        {
            "alert": "A4coDown",
            "expr": "max by (process) (up == 0 or nats_up == 0 or pg_up == 0)",
            "for": "1m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "{{ $labels.process }} has not answered for 1m"},
        }
    ]


def render_rules(header: str, catalog: Catalog) -> dict[str, str]:
    """The rules file by its path in the output folder."""
    objectives = declared_objectives(catalog)
    groups = [
        {"name": "a4co-bus", "rules": _lag_alerts(catalog, catalog.alerts)},
        {"name": "a4co-platform", "rules": _platform_alerts(catalog.alerts)},
        {"name": "a4co-servers", "rules": _server_alerts()},
        {
            "name": "a4co-slo-ratios",
            "rules": [_slow_ratio(o, w) for o in objectives for w in _WINDOWS],
        },
        {
            "name": "a4co-slo-burn",
            "rules": [_burn_alert(o, b) for o in objectives for b in BURN_RATES],
        },
    ]
    text = yaml.safe_dump({"groups": groups}, sort_keys=False, width=4096, allow_unicode=True)
    return {RULES_FILE: f"{header}\n{text}"}

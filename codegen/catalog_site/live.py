"""The catalog's live page: the service graph with traffic on it, each durable consumer's
messages/s and lag, sagas by step and each declared objective's state, from Prometheus.

The page is static: the tables list every consumer and objective from the contracts, and
`live.js` fills in the figures by sending the queries of `codegen.live_queries` to
`../prometheus/api/v1/query`, which `a4co up`'s static server passes to its Prometheus.
Opened from a file, or with no Prometheus behind the server, it says so and shows the rest.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from codegen.catalog_site.html import Flow, Row, Site, code, link
from codegen.catalog_site.index import embedded_json, service_graph
from codegen.live_queries import LIVE_QUERIES, OBJECTIVE_WINDOW, REFRESH_SECONDS
from codegen.model import Operation
from codegen.prometheus import Objective, declared_objectives

__all__ = ["live_page"]

_KINDS = {"http": "REST", "handler": "handler"}


def live_page(site: Site) -> str:
    """The live page, with the model its script reads embedded as JSON."""
    consumers = [
        (site.flows.get(channel.model_name, flow), op, durable)
        for flow in site.flows.values()
        for op in sorted(flow.receives, key=lambda o: o.service)
        for channel, durable in op.durables
    ]
    objectives = declared_objectives(site.catalog)
    model = {
        "refresh_seconds": REFRESH_SECONDS,
        "queries": {q.name: q.expr for q in LIVE_QUERIES},
        "consumers": [
            {
                "durable": durable,
                "service": op.service,
                "operation": op.key,
                "producers": flow.producers,
            }
            for flow, op, durable in consumers
        ],
        "objectives": [
            {
                "key": _objective_key(o),
                "kind": o.kind,
                "service": o.service,
                "operation": o.operation,
                "budget": o.slo.budget,
            }
            for o in objectives
        ],
    }
    body = site.render(
        "live.html.j2",
        window=OBJECTIVE_WINDOW,
        graph=service_graph(site),
        consumers=site.table(
            "channel-table",
            ["Message", "Kind", "Consumer", "Durable", "Messages/s", "Lag"],
            [_consumer_row(site, flow, op, durable) for flow, op, durable in consumers],
        ),
        objectives=site.table(
            "objective-table",
            ["Service", "Kind", "Operation", "Objective", f"Slow ({OBJECTIVE_WINDOW})", "State"],
            [_objective_row(o) for o in objectives],
        ),
        queries=[(q.meaning, q.expr) for q in LIVE_QUERIES],
        model=embedded_json(model),
    )
    return site.page("Live", body, depth=0, scripts=("live.js",))


def _consumer_row(site: Site, flow: Flow, op: Operation, durable: str) -> Row:
    """A durable consumer of a channel (the message's page names the subject); an operation
    that still reads an older version during a migration has a row for that durable too."""
    cells: list[Any] = [site.message_link(flow.name, ""), flow.channel.kind]
    cells += [link(f"services/{op.service}.html", op.service), code(durable)]
    rate = Markup('<span class="figure rate">\u2013</span>')
    lag = Markup('<span class="figure lag">\u2013</span>')
    return f"durable:{durable}", [*cells, rate, lag]


def _objective_key(o: Objective) -> str:
    return f"slo:{o.kind}:{o.service}:{o.operation}"


def _objective_row(o: Objective) -> Row:
    slow = Markup('<span class="figure slow">\u2013</span>')
    state = Markup('<span class="state">no data</span>')
    cells: list[Any] = [o.service, _KINDS[o.kind], code(o.operation), str(o.slo), slow, state]
    return _objective_key(o), cells

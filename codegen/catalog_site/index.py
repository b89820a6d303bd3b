"""The catalog's index page: counts, the service graph, the tables and the search index."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from codegen.catalog_site.graph import layout
from codegen.catalog_site.html import STREAM_HEADERS, Row, Site, code, link
from codegen.model import Service

__all__ = ["embedded_json", "index_page", "search_entries", "service_graph"]

_LEAD = (
    "Every service of the A4CO marketplace, the events and commands they exchange over "
    "NATS JetStream, and their REST operations, generated from the contracts."
)


def index_page(site: Site) -> str:
    """The index: what the platform holds, its graph, and a searchable list of everything."""
    services = [site.catalog.services[n] for n in sorted(site.catalog.services)]
    flows = list(site.flows.values())
    events = sum(1 for f in flows if f.channel.kind == "event")
    entries = search_entries(site)
    body = site.render(
        "index.html.j2",
        lead=_LEAD,
        counts=[
            ("services", len(services)),
            ("events", events),
            ("commands", len(flows) - events),
            ("streams", len(site.catalog.streams)),
            ("REST operations", sum(len(s.endpoints) for s in services)),
        ],
        total=len(entries),
        graph=service_graph(site),
        services=site.table(
            "service-table",
            ["Service", "Title", "Sends", "Receives", "REST operations"],
            [_service_row(s) for s in services],
        ),
        messages=site.table(
            "message-table",
            ["Message", "Kind", "Subject", "Producers", "Consumers", "Summary"],
            _message_rows(site),
        ),
        streams=site.table(
            "stream-table",
            STREAM_HEADERS,
            [
                site.stream_row(s, "", key=f"stream:{s.name}")
                for s in sorted(site.catalog.streams, key=lambda s: s.name)
            ],
        ),
        search_index=embedded_json(entries),
    )
    return site.page("Services and events", body, depth=0, scripts=("search.js",))


def _service_row(s: Service) -> Row:
    cells: list[Any] = [link(f"services/{s.name}.html", s.name), s.title]
    cells += [len(s.sends), len(s.receives), len(s.endpoints)]
    return f"service:{s.name}", cells


def _message_rows(site: Site) -> list[Row]:
    rows: list[Row] = []
    for f in site.flows.values():
        cells: list[Any] = [site.message_link(f.name, ""), f.channel.kind, code(f.channel.subject)]
        cells += [site.service_links(f.producers, ""), site.service_links(f.consumers, "")]
        rows.append((f"message:{f.name}", [*cells, f.channel.message.summary]))
    return rows


def service_graph(site: Site) -> Markup:
    """The service graph: an arrow per (producer, consumer) pair with the messages it carries."""
    links: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for flow in site.flows.values():
        for producer in flow.producers:
            for consumer in flow.consumers:
                links.setdefault((producer, consumer), []).append((flow.name, flow.channel.kind))
    return site.render("graph.svg.j2", graph=layout(sorted(site.catalog.services), links))


def search_entries(site: Site) -> list[dict[str, str]]:
    """The search index: one entry per service, message and stream, with its searchable text."""
    entries: list[dict[str, str]] = []
    for s in site.catalog.services.values():
        words = [s.name, s.title, s.description]
        entries.append(_entry(f"service:{s.name}", "service", f"services/{s.name}.html", words))
    for flow in site.flows.values():
        ch, m = flow.channel, flow.channel.message
        words = [m.name, m.title, m.summary, m.description, ch.subject, ch.description, ch.kind]
        page = flow.name  # the message name, with V<n> from version 2 on
        entries.append(_entry(f"message:{page}", ch.kind, f"messages/{page}.html", words))
    for st in site.catalog.streams:
        words = [st.name, *st.subjects, st.description]
        url = f"index.html#stream-{st.name}"
        entries.append(_entry(f"stream:{st.name}", "stream", url, words))
    return sorted(entries, key=lambda e: e["key"])


def _entry(key: str, kind: str, url: str, words: list[str]) -> dict[str, str]:
    text = " ".join(" ".join(w.split()) for w in words if w).lower()
    return {"key": key, "kind": kind, "name": key.split(":", 1)[1], "url": url, "text": text}


def embedded_json(value: object) -> Markup:
    """JSON safe inside a `<script>` element: `<` and `>` escaped as JSON string escapes."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e"))

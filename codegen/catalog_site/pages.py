"""The catalog's page per service and page per message."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from codegen.bundle import Bundle
from codegen.catalog_site.html import STREAM_HEADERS, Flow, Row, Site, code, prose
from codegen.catalog_site.schema import definitions, field_rows
from codegen.model import Endpoint, LatencyObjective, Operation, Service

__all__ = ["message_page", "service_page"]

_UP = "../"
_FIELD_HEADERS = ["Field", "Type", "Required", "Description"]


def service_page(site: Site, service: Service) -> str:
    """A service: its REST operations, the messages it sends and receives, its streams."""
    endpoints = [_endpoint_row(site, e) for e in sorted(service.endpoints, key=_endpoint_key)]
    sends = [_send_row(site, op) for op in sorted(service.sends, key=_message_key)]
    receives = [_receive_row(site, op) for op in sorted(service.receives, key=_message_key)]
    used = {
        s.name
        for op in service.sends + service.receives
        for s in site.catalog.stream_of(op.channel.subject)
    }
    streams = sorted((s for s in site.catalog.streams if s.name in used), key=lambda s: s.name)
    body = site.render(
        "service.html.j2",
        name=service.name,
        title=service.title,
        description=prose(service.description),
        counts=[
            ("REST operations", len(endpoints)),
            ("messages sent", len(sends)),
            ("messages received", len(receives)),
        ],
        endpoints=site.table(
            "rest-table",
            [
                "Method",
                "Path",
                "Operation",
                "Summary",
                "Success",
                "Auth",
                "Emits",
                "SLO",
                "Called by",
            ],
            endpoints,
        ),
        sends=site.table("send-table", ["Message", "Kind", "Subject", "Consumers", "Why"], sends),
        receives=site.table(
            "receive-table",
            ["Message", "Kind", "Subject", "Producers", "Durable", "What it does", "SLO"],
            receives,
        ),
        streams=site.table(
            "stream-table", STREAM_HEADERS, [site.stream_row(s, _UP) for s in streams]
        ),
    )
    return site.page(service.name, body, depth=1)


def _endpoint_key(e: Endpoint) -> tuple[str, str]:
    return e.path, e.method


def _message_key(op: Operation) -> str:
    return op.channel.model_name


def _endpoint_row(site: Site, e: Endpoint) -> Row:
    auth = f"roles: {', '.join(e.roles)}" if e.roles else ("token" if e.secured else "public")
    emits = [
        site.message_link(site.by_subject[s].name, _UP) if s in site.by_subject else code(s)
        for s in sorted(e.emits)
    ]
    cells: list[Any] = [code(e.method), code(e.path), e.operation_id, e.summary]
    cells += [e.success.status, auth, Markup(", ").join(emits), _objective(e.slo)]
    callers = site.catalog.callers(e.service, e.operation_id)
    cells.append(site.service_links(callers, _UP) if callers else "")
    return "", cells


def _send_row(site: Site, op: Operation) -> Row:
    flow = site.flows[op.channel.model_name]
    cells: list[Any] = [site.message_link(flow.name, _UP), op.channel.kind]
    cells += [code(op.channel.subject), site.service_links(flow.consumers, _UP), op.summary]
    return "", cells


def _receive_row(site: Site, op: Operation) -> Row:
    flow = site.flows[op.channel.model_name]
    cells: list[Any] = [site.message_link(flow.name, _UP), op.channel.kind]
    cells += [code(op.channel.subject), site.service_links(flow.producers, _UP)]
    cells += [_durables(op), op.summary, _objective(op.slo)]
    return "", cells


def _durables(op: Operation) -> Markup:
    """The operation's durable, then the one of each older version it still reads."""
    names = [code(durable) for _, durable in op.durables]
    return Markup("<br>").join(names)


def _objective(slo: LatencyObjective | None) -> str:
    """An operation's latency objective as the SLO column shows it (`p99 < 500 ms`)."""
    return str(slo) if slo is not None else ""


def message_page(site: Site, flow: Flow) -> str:
    """A message: subject, stream, kind, schema with its fields, examples, who sends and reads."""
    channel, message = flow.channel, flow.channel.message
    bundle = Bundle(site.workspace)
    name = bundle.add(message.payload, channel.model_name)
    others = {k: bundle.defs[k] for k in sorted(bundle.defs) if k != name}
    schema = {**bundle.defs[name], "$defs": others} if others else dict(bundle.defs[name])
    place = f"{message.place.file}#{message.place.pointer}"
    producers = [(("", [site.service_links([op.service], _UP), op.summary])) for op in flow.sends]
    consumers = [
        ("", [site.service_links([op.service], _UP), _durables(op), op.summary])
        for op in flow.receives
    ]
    examples = [
        site.render("example.html.j2", anchor=f"example-{e.name}", name=e.name, json=_json(e.value))
        for e in message.examples
    ]
    body = site.render(
        "message.html.j2",
        name=channel.model_name,
        kind=channel.kind,
        summary=message.summary or message.title,
        facts=[
            ("Subject", code(channel.subject)),
            ("Kind", channel.kind),
            ("Stream", site.stream_link(flow.stream, _UP)),
            ("Owner", site.service_links([channel.owner], _UP)),
            ("Channel", channel.description),
            ("Defined in", code(place)),
        ],
        description=prose(message.description),
        producers=site.table(
            "producer-table",
            ["Service", "Why it sends"],
            producers or [("", [site.service_links(flow.producers, _UP), ""])],
        ),
        consumers=site.table("consumer-table", ["Service", "Durable", "What it does"], consumers),
        fields=_fields(site, schema, others),
        schema=_json(schema),
        examples=Markup("\n").join(examples) or Markup('<p class="none">None.</p>'),
    )
    return site.page(channel.model_name, body, depth=1)


def _fields(site: Site, schema: dict[str, Any], defs: dict[str, Any]) -> Markup:
    """The payload's field table, then a section per schema it references."""
    parts = [site.table("field-table", _FIELD_HEADERS, field_rows(schema, defs))]
    for d in definitions(defs):
        table = site.table(f"field-table-{d.name}", _FIELD_HEADERS, d.rows) if d.rows else None
        parts.append(
            site.render(
                "schema_section.html.j2",
                anchor=d.anchor,
                name=d.name,
                description=d.description,
                detail=table or Markup("<p>Type: {}</p>").format(d.type),
            )
        )
    return Markup("\n").join(parts)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)

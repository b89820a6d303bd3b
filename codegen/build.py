"""Build the catalog's intermediate model from the contract documents."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from codegen.errors import ContractError, ContractErrors, Finding
from codegen.loader import Ref, Workspace, join_pointer
from codegen.model import (
    COMPATIBILITY_MODES,
    AlertPolicy,
    Body,
    Call,
    Catalog,
    Channel,
    ConsumerDefaults,
    Endpoint,
    Example,
    Message,
    Operation,
    Parameter,
    Response,
    Service,
    Stream,
)
from codegen.naming import handler_name
from codegen.slo import SLO_KEY, read_slo
from codegen.versions import (
    DEPRECATED_KEY,
    REPLACES_KEY,
    STORED_ONLY_KEY,
    older_versions,
    on_bus,
    read_deprecation,
    read_replaces,
    read_stored_only,
)

__all__ = ["build_catalog", "parse_duration"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_METHODS = ("get", "put", "post", "delete", "patch")


def parse_duration(value: Any, place: Ref) -> float:
    """`30s` -> 30.0; numbers are seconds. Anything else names its place."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ContractError(
            Finding(place.file, place.pointer, f"'{value}' is not a duration like 30s, 2m, 7d")
        )
    return float(match.group(1)) * _UNIT[match.group(2)]


def build_catalog(workspace: Workspace) -> Catalog:
    """Read `platform.yaml` and every AsyncAPI and OpenAPI document into a `Catalog`."""
    catalog = Catalog()
    _read_platform(workspace, catalog)
    asyncapi = _files(workspace, "asyncapi")
    for file in asyncapi:
        _read_channels(workspace, catalog, file)
    findings: list[Finding] = []
    for file in asyncapi:
        try:
            _read_operations(workspace, catalog, file)
        except ContractError as exc:
            findings.append(exc.finding)
    for file in _files(workspace, "openapi"):
        try:
            _read_endpoints(workspace, catalog, file)
        except ContractError as exc:
            findings.append(exc.finding)
    findings += _unknown_services(workspace, "dlq_operators", catalog.dlq_operators, catalog)
    findings += _unknown_services(workspace, "event_sourced", catalog.event_sourced, catalog)
    findings += _unknown_calls(catalog)
    if findings:
        raise ContractErrors(findings)
    return catalog


def _unknown_services(
    workspace: Workspace, key: str, names: tuple[str, ...], catalog: Catalog
) -> list[Finding]:
    """Names of a platform.yaml list (`dlq_operators`, `event_sourced`) that are no service:
    a typo would silently grant, or protect, nothing."""
    file = workspace.rel(workspace.root / "platform.yaml")
    return [
        Finding(
            file,
            join_pointer(f"/{key}", i),
            f"{key} names '{name}', which is not a service of the catalog",
        )
        for i, name in enumerate(names)
        if name not in catalog.services
    ]


def _unknown_calls(catalog: Catalog) -> list[Finding]:
    """`x-calls` that name no service or no operation of it: a typo would hide a caller
    from the findings of `make breaking`."""
    out = []
    for service in sorted(catalog.services.values(), key=lambda s: s.name):
        for call in service.calls:
            callee = catalog.services.get(call.service)
            if callee is None or callee.openapi is None:
                what = f"'{call.service}', which is not a service with a REST API"
            elif all(e.operation_id != call.operation_id for e in callee.endpoints):
                what = f"{call.service}.{call.operation_id}, which its OpenAPI does not declare"
            else:
                continue
            out.append(Finding(call.place.file, call.place.pointer, f"x-calls names {what}"))
    return out


def _read_calls(service: Service, file: str, raw: Any) -> None:
    """`x-calls: {<service>: [<operationId>, ...]}` at a document's root."""
    if raw is None:
        return
    if not isinstance(raw, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in raw.values()
    ):
        finding = Finding(file, "/x-calls", "x-calls maps a service to a list of operationIds")
        raise ContractError(finding)
    for callee, ids in raw.items():
        for i, operation_id in enumerate(ids):
            place = Ref(file, join_pointer("/x-calls", callee, i))
            service.calls.append(Call(str(callee), operation_id, place))


def _files(workspace: Workspace, kind: str) -> list[str]:
    folder = workspace.root / kind
    return [workspace.rel(p) for p in sorted(folder.glob("*.yaml"))]


def _service(catalog: Catalog, file: str, doc: dict[str, Any]) -> Service:
    name = Path(file).stem
    service = catalog.services.setdefault(name, Service(name=name))
    info = doc.get("info", {})
    service.title = service.title or info.get("title", name)
    service.description = service.description or info.get("description", "").strip()
    return service


def _read_platform(workspace: Workspace, catalog: Catalog) -> None:
    file = workspace.rel(workspace.root / "platform.yaml")
    doc = workspace.document(file)
    raw = doc.get("consumer_defaults", {})
    here = Ref(file, "/consumer_defaults")
    catalog.defaults = _consumer(raw, ConsumerDefaults(), here)
    catalog.dlq_operators = tuple(doc.get("dlq_operators", ()))
    catalog.event_sourced = tuple(doc.get("event_sourced", ()))
    catalog.alerts = _alerts(doc.get("alerts") or {}, Ref(file, "/alerts"))
    for i, s in enumerate(doc.get("streams", [])):
        place = Ref(file, join_pointer("/streams", i))
        catalog.streams.append(
            Stream(
                name=s["name"],
                subjects=tuple(s["subjects"]),
                retention=s.get("retention", "limits"),
                max_age=parse_duration(s.get("max_age", 0), place),
                replicas=int(s.get("replicas", 1)),
                duplicate_window=parse_duration(s.get("duplicate_window", "2m"), place),
                description=s.get("description", ""),
                place=place,
                compatibility=_compatibility(s, place),
            )
        )


def _compatibility(stream: dict[str, Any], place: Ref) -> str:
    """The stream's `compatibility`, or the default its retention implies (contracts/README.md).

    `limits` keeps messages for `max_age` and a projection may replay all of them, so a new
    reader must read every retained version, and subscribers deploy apart from producers:
    FULL_TRANSITIVE. `interest` keeps a message only until its consumers ack it: FULL.
    `workqueue` has one consuming service, upgraded before its producers: BACKWARD.
    """
    retention = stream.get("retention", "limits")
    derived = {"interest": "FULL", "workqueue": "BACKWARD"}.get(retention, "FULL_TRANSITIVE")
    mode = stream.get("compatibility", derived)
    if mode not in COMPATIBILITY_MODES:
        raise ContractError(
            Finding(
                place.file,
                join_pointer(place.pointer, "compatibility"),
                f"compatibility '{mode}' is not one of {', '.join(COMPATIBILITY_MODES)}",
            )
        )
    return str(mode)


def _alerts(raw: dict[str, Any], place: Ref) -> AlertPolicy:
    """`platform.yaml`'s `alerts`: durations and the handler error ratio, defaults elsewhere."""
    base = AlertPolicy()
    unknown = sorted(set(raw) - set(AlertPolicy.__dataclass_fields__), key=str)
    if unknown:
        pointer = join_pointer(place.pointer, unknown[0])
        raise ContractError(Finding(place.file, pointer, f"alerts has no setting '{unknown[0]}'"))
    durations = {
        key: parse_duration(
            raw.get(key, getattr(base, key)), Ref(place.file, join_pointer(place.pointer, key))
        )
        for key in ("lag_for", "backlog_for", "error_for", "saga_overdue_for")
    }
    ratio = raw.get("error_ratio", base.error_ratio)
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 < ratio < 1:
        raise ContractError(
            Finding(
                place.file,
                join_pointer(place.pointer, "error_ratio"),
                f"error_ratio {ratio!r} is not a number between 0 and 1 exclusive",
            )
        )
    return AlertPolicy(error_ratio=float(ratio), **durations)


def _consumer(raw: dict[str, Any], base: ConsumerDefaults, place: Ref) -> ConsumerDefaults:
    return ConsumerDefaults(
        max_deliver=int(raw.get("max_deliver", base.max_deliver)),
        ack_wait=parse_duration(raw.get("ack_wait", base.ack_wait), place),
        backoff=tuple(parse_duration(b, place) for b in raw.get("backoff", base.backoff)),
        max_ack_pending=int(raw.get("max_ack_pending", base.max_ack_pending)),
        concurrency=int(raw.get("concurrency", base.concurrency)),
        batch=int(raw.get("batch", base.batch)),
        linger=parse_duration(raw.get("linger", base.linger), place),
        max_lag=int(raw.get("max_lag", base.max_lag)),
    )


def _read_channels(workspace: Workspace, catalog: Catalog, file: str) -> None:
    doc = workspace.document(file)
    service = _service(catalog, file, doc)
    _read_calls(service, file, doc.get("x-calls"))
    service.asyncapi = file
    for key, node in (doc.get("channels") or {}).items():
        if "$ref" in node:
            continue
        place = Ref(file, join_pointer("/channels", key))
        messages = node.get("messages") or {}
        if len(messages) != 1:
            raise ContractError(
                Finding(file, place.pointer, "a channel carries exactly one message")
            )
        (msg_key,) = messages
        msg_place, msg = workspace.resolve(
            Ref(file, join_pointer(place.pointer, "messages", msg_key))
        )
        examples = tuple(
            Example(
                e.get("name", f"example{i}"),
                e.get("payload"),
                Ref(msg_place.file, join_pointer(msg_place.pointer, "examples", i, "payload")),
            )
            for i, e in enumerate(msg.get("examples") or [])
        )
        message = Message(
            name=msg.get("name", msg_key),
            title=msg.get("title", ""),
            summary=msg.get("summary", ""),
            description=msg.get("description", ""),
            payload=Ref(msg_place.file, join_pointer(msg_place.pointer, "payload")),
            examples=examples,
            place=msg_place,
        )
        subject = node.get("address", "")
        channel = catalog.channels[place] = Channel(
            key=key,
            subject=subject,
            description=node.get("description", ""),
            owner=service.name,
            message=message,
            place=place,
            replaces=read_replaces(
                node.get(REPLACES_KEY),
                subject,
                Ref(file, join_pointer(place.pointer, REPLACES_KEY)),
            ),
            deprecation=read_deprecation(
                node.get(DEPRECATED_KEY),
                subject,
                Ref(file, join_pointer(place.pointer, DEPRECATED_KEY)),
            ),
            stored_only=read_stored_only(node.get(STORED_ONLY_KEY)),
        )
        if channel.stored_only:
            service.stored.append(channel)


def _read_operations(workspace: Workspace, catalog: Catalog, file: str) -> None:
    doc = workspace.document(file)
    service = catalog.services[Path(file).stem]
    for key, op in (doc.get("operations") or {}).items():
        place = Ref(file, join_pointer("/operations", key))
        channel_place, _ = workspace.resolve(Ref(file, join_pointer(place.pointer, "channel")))
        channel = catalog.channels.get(channel_place)
        if channel is None:
            raise ContractError(
                Finding(
                    file,
                    join_pointer(place.pointer, "channel"),
                    f"points at {channel_place.file}#{channel_place.pointer}, "
                    "which is not a channel with an address",
                    "REF_UNRESOLVED",
                )
            )
        raw = op.get("x-consumer") or {}
        consumer = _consumer(
            raw, catalog.defaults, Ref(file, join_pointer(place.pointer, "x-consumer"))
        )
        durable = raw.get("durable") or (
            f"{service.name}_{handler_name(channel.base_name, channel.kind)}"
            f"{channel.version_suffix}"
            if op["action"] == "receive"
            else None
        )
        operation = Operation(
            service=service.name,
            key=key,
            action=op["action"],
            channel=channel,
            summary=op.get("summary", ""),
            consumer=consumer,
            durable=durable,
            place=place,
            slo=read_slo(op.get(SLO_KEY), Ref(file, join_pointer(place.pointer, SLO_KEY))),
            older=on_bus(older_versions(catalog, channel)) if op["action"] == "receive" else (),
        )
        (service.sends if operation.action == "send" else service.receives).append(operation)


def _read_endpoints(workspace: Workspace, catalog: Catalog, file: str) -> None:
    doc = workspace.document(file)
    service = _service(catalog, file, doc)
    _read_calls(service, file, doc.get("x-calls"))
    service.openapi = file
    for path, item in (doc.get("paths") or {}).items():
        for method in _METHODS:
            if method in item:
                place = Ref(file, join_pointer("/paths", path, method))
                service.endpoints.append(_endpoint(workspace, service.name, path, method, place))


def _endpoint(workspace: Workspace, service: str, path: str, method: str, place: Ref) -> Endpoint:
    _, op = workspace.resolve(place)
    params = []
    for i, _raw in enumerate(op.get("parameters") or []):
        _, p = workspace.resolve(Ref(place.file, join_pointer(place.pointer, "parameters", i)))
        _, schema = workspace.resolve(
            Ref(place.file, join_pointer(place.pointer, "parameters", i, "schema"))
        )
        params.append(
            Parameter(
                name=p["name"],
                location=p["in"],
                required=bool(p.get("required")),
                description=p.get("description", ""),
                schema=schema,
            )
        )
    request = None
    if "requestBody" in op:
        body_place, body = workspace.resolve(
            Ref(place.file, join_pointer(place.pointer, "requestBody"))
        )
        request = _body(workspace, body_place, body)
    responses = []
    for status, _raw in (op.get("responses") or {}).items():
        r_place, r = workspace.resolve(
            Ref(place.file, join_pointer(place.pointer, "responses", status))
        )
        content = r.get("content") or {}
        ctype = next(iter(content), None)
        body = _body(workspace, r_place, r) if ctype == "application/json" else None
        responses.append(
            Response(
                status=int(status),
                description=r.get("description", ""),
                body=body,
                content_type=ctype,
            )
        )
    return Endpoint(
        service=service,
        operation_id=op.get("operationId", ""),
        method=method.upper(),
        path=path,
        summary=op.get("summary", ""),
        description=op.get("description", "").strip(),
        parameters=tuple(params),
        request=request,
        responses=tuple(responses),
        links=tuple(
            sorted(
                link.get("operationId", "")
                for r in (op.get("responses") or {}).values()
                for link in (r.get("links") or {}).values()
            )
        ),
        emits=tuple(op.get("x-emits") or ()),
        place=place,
        secured=_secured(workspace, place, op),
        roles=tuple(sorted(op.get("x-roles") or ())),
        slo=read_slo(op.get(SLO_KEY), Ref(place.file, join_pointer(place.pointer, SLO_KEY))),
    )


def _secured(workspace: Workspace, place: Ref, op: dict[str, Any]) -> bool:
    """Whether the operation's effective security requires a token (`{}` makes it optional)."""
    _, root = workspace.resolve(Ref(place.file, ""))
    requirements = op.get("security", root.get("security") or [])
    return bool(requirements) and all(requirements)


def _body(workspace: Workspace, place: Ref, node: dict[str, Any]) -> Body:
    media_pointer = join_pointer(place.pointer, "content", "application/json")
    media = (node.get("content") or {}).get("application/json")
    if media is None:
        raise ContractError(Finding(place.file, place.pointer, "has no application/json content"))
    schema = media.get("schema") or {}
    if "$ref" not in schema:
        raise ContractError(
            Finding(
                place.file,
                join_pointer(media_pointer, "schema"),
                "a body schema must be a $ref to a named schema",
                "BODY_SCHEMA_NAMED",
            )
        )
    target, _ = workspace.resolve(Ref(place.file, join_pointer(media_pointer, "schema")))
    examples = []
    for name in media.get("examples") or {}:
        ex_place, ex = workspace.resolve(
            Ref(place.file, join_pointer(media_pointer, "examples", name))
        )
        examples.append(
            Example(
                name, ex.get("value"), Ref(ex_place.file, join_pointer(ex_place.pointer, "value"))
            )
        )
    if "example" in media:
        examples.append(
            Example(
                "example", media["example"], Ref(place.file, join_pointer(media_pointer, "example"))
            )
        )
    return Body(schema=target, examples=tuple(examples))

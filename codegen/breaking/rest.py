"""Breaking-change rules of REST operations.

A request body must still accept what it accepted (old clients are the writers); a response
must still be readable by old clients (the new server is the writer); parameters must not
become required or narrower.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from codegen.breaking.base import BREAKING, Contracts
from codegen.breaking.payloads import compared, field_name, finding
from codegen.errors import Finding
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.model import Endpoint

__all__: list[str] = []

_REQUEST = {
    "field-unknown": "REST_REQUEST_FIELD_NO_DELETE",
    "field-missing": "REST_REQUEST_FIELD_REQUIRED_NO_ADD",
    "field-optional": "REST_REQUEST_FIELD_REQUIRED_NO_ADD",
    "type": "REST_REQUEST_FIELD_TYPE_NO_NARROW",
    "constraint": "REST_REQUEST_FIELD_TYPE_NO_NARROW",
    "enum": "REST_REQUEST_FIELD_TYPE_NO_NARROW",
}
_RESPONSE = {
    "field-missing": "REST_RESPONSE_FIELD_NO_DELETE",
    "field-optional": "REST_RESPONSE_FIELD_NO_DELETE",
    "type": "REST_RESPONSE_FIELD_TYPE_NO_WIDEN",
    "constraint": "REST_RESPONSE_FIELD_TYPE_NO_WIDEN",
    "enum": "REST_RESPONSE_FIELD_TYPE_NO_WIDEN",
    "field-unknown": "REST_RESPONSE_FIELD_ADD_TO_CLOSED",
}
_CHANGE = {
    "REST_REQUEST_FIELD_NO_DELETE": "{field} was removed from the request",
    "REST_REQUEST_FIELD_REQUIRED_NO_ADD": "{field} became required in the request",
    "REST_REQUEST_FIELD_TYPE_NO_NARROW": "{field} of the request was narrowed",
    "REST_REQUEST_COMPATIBLE": "{field} of the request changed",
    "REST_RESPONSE_FIELD_NO_DELETE": "{field} was removed from the {status} response",
    "REST_RESPONSE_FIELD_TYPE_NO_WIDEN": "{field} of the {status} response was widened",
    "REST_RESPONSE_FIELD_ADD_TO_CLOSED": "{field} was added to the closed {status} response",
    "REST_RESPONSE_COMPATIBLE": "{field} of the {status} response changed",
}
_OLD_CLIENTS_WRITE = "the server rejects requests that old clients send"
_OLD_CLIENTS_READ = "clients built on the previous contract cannot read it"


def _pairs(previous: Contracts, current: Contracts) -> Iterator[tuple[Endpoint, Endpoint]]:
    """(previous, current) operations with the same service, method and path."""
    if previous.depth:
        return
    now = {
        (e.service, e.method, e.path): e
        for s in current.catalog.services.values()
        for e in s.endpoints
    }
    for service in sorted(previous.catalog.services.values(), key=lambda s: s.name):
        for old in service.endpoints:
            new = now.get((old.service, old.method, old.path))
            if new is not None:
                yield old, new


def _label(e: Endpoint, previous: Contracts) -> str:
    """`GET /users/{user_id} (user.getProfile, called by chat, order)`: the services named
    are those whose previous contract declares calling it (`x-calls`), the clients built on
    that contract; frontends using the generated SDK are not listed."""
    callers = previous.catalog.callers(e.service, e.operation_id)
    called = f", called by {', '.join(callers)}" if callers else ""
    return f"{e.method} {e.path} ({e.service}.{e.operation_id}{called})"


def _request(rule: str, previous: Contracts, current: Contracts) -> Iterator[Finding]:
    for old, new in _pairs(previous, current):
        if old.request is None or new.request is None:
            continue
        seen: set[str] = set()
        for issue in compared(
            previous, old.request.schema, current, new.request.schema, "backward"
        ):
            if (
                _REQUEST.get(issue.kind, "REST_REQUEST_COMPATIBLE") == rule
                and issue.field not in seen
            ):
                seen.add(issue.field)
                yield finding(
                    rule,
                    issue,
                    "backward",
                    subject=_label(new, previous),
                    change=_CHANGE[rule].format(field=field_name(issue)),
                    consequence=_OLD_CLIENTS_WRITE,
                    previous=previous,
                )


def _response(rule: str, previous: Contracts, current: Contracts) -> Iterator[Finding]:
    for old, new in _pairs(previous, current):
        statuses = {r.status: r for r in new.responses}
        for before in old.responses:
            after = statuses.get(before.status)
            if before.body is None or after is None or after.body is None:
                continue
            seen: set[str] = set()
            issues = compared(previous, before.body.schema, current, after.body.schema, "forward")
            for issue in issues:
                kind_rule = _RESPONSE.get(issue.kind, "REST_RESPONSE_COMPATIBLE")
                if kind_rule == rule and issue.field not in seen:
                    seen.add(issue.field)
                    yield finding(
                        rule,
                        issue,
                        "forward",
                        subject=_label(new, previous),
                        change=_CHANGE[rule].format(
                            field=field_name(issue).replace("the payload", "the body"),
                            status=before.status,
                        ),
                        consequence=_OLD_CLIENTS_READ,
                        previous=previous,
                    )


@BREAKING.rule("REST_OPERATION_NO_DELETE", "rest")
def operation_no_delete(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A REST operation (method and path) is not removed or moved: clients still call it."""
    if previous.depth:
        return
    now = {
        (e.service, e.method, e.path)
        for s in current.catalog.services.values()
        for e in s.endpoints
    }
    for service in sorted(previous.catalog.services.values(), key=lambda s: s.name):
        for old in service.endpoints:
            if (old.service, old.method, old.path) not in now:
                yield Finding(
                    old.place.file,
                    old.place.pointer,
                    f"{_label(old, previous)} was removed, so clients that call it get 404 or 405",
                    "REST_OPERATION_NO_DELETE",
                )


@BREAKING.rule("REST_REQUEST_FIELD_NO_DELETE", "rest", "request", "field")
def request_field_no_delete(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A closed request body keeps every field old clients may send."""
    return _request("REST_REQUEST_FIELD_NO_DELETE", previous, current)


@BREAKING.rule("REST_REQUEST_FIELD_REQUIRED_NO_ADD", "rest", "request", "field")
def request_field_required_no_add(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A request body gains no required field and makes no optional field required."""
    return _request("REST_REQUEST_FIELD_REQUIRED_NO_ADD", previous, current)


@BREAKING.rule("REST_REQUEST_FIELD_TYPE_NO_NARROW", "rest", "request", "type")
def request_field_type_no_narrow(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A request field's type, enum, format, length, bounds or pattern do not narrow."""
    return _request("REST_REQUEST_FIELD_TYPE_NO_NARROW", previous, current)


@BREAKING.rule("REST_REQUEST_COMPATIBLE", "rest", "request")
def request_compatible(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A request body still accepts what it accepted: any other change, a newly required
    body, and undecidable comparisons (as warnings)."""
    yield from _request("REST_REQUEST_COMPATIBLE", previous, current)
    for old, new in _pairs(previous, current):
        if old.request is None and new.request is not None:
            place = Ref(new.place.file, join_pointer(new.place.pointer, "requestBody"))
            _, body = current.workspace.resolve(place)
            if body.get("required"):
                yield Finding(
                    place.file,
                    place.pointer,
                    f"{_label(new, previous)}: a required request body was added, "
                    f"so {_OLD_CLIENTS_WRITE}",
                    "REST_REQUEST_COMPATIBLE",
                )


@BREAKING.rule("REST_RESPONSE_FIELD_NO_DELETE", "rest", "response", "field")
def response_field_no_delete(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A response keeps sending every field old clients require."""
    return _response("REST_RESPONSE_FIELD_NO_DELETE", previous, current)


@BREAKING.rule("REST_RESPONSE_FIELD_TYPE_NO_WIDEN", "rest", "response", "type")
def response_field_type_no_widen(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A response field's type, enum, format, length, bounds or pattern do not widen."""
    return _response("REST_RESPONSE_FIELD_TYPE_NO_WIDEN", previous, current)


@BREAKING.rule("REST_RESPONSE_FIELD_ADD_TO_CLOSED", "rest", "response", level="WARN")
def response_field_add_to_closed(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A field added to a closed response is rejected by clients generated from the previous
    contract (their models forbid unknown fields): upgrade clients first."""
    return _response("REST_RESPONSE_FIELD_ADD_TO_CLOSED", previous, current)


@BREAKING.rule("REST_RESPONSE_COMPATIBLE", "rest", "response")
def response_compatible(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A response stays readable by old clients: any other change, a removed success
    response, and undecidable comparisons (as warnings)."""
    yield from _response("REST_RESPONSE_COMPATIBLE", previous, current)
    for old, new in _pairs(previous, current):
        statuses = {r.status for r in new.responses}
        for before in old.responses:
            if 200 <= before.status < 300 and before.status not in statuses:
                yield Finding(
                    new.place.file,
                    join_pointer(new.place.pointer, "responses"),
                    f"{_label(new, previous)}: the {before.status} response was removed, "
                    f"so {_OLD_CLIENTS_READ}",
                    "REST_RESPONSE_COMPATIBLE",
                )


@BREAKING.rule("REST_PARAMETER_NO_REQUIRE", "rest", "parameter")
def parameter_no_require(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """No parameter is added as required, and no optional parameter becomes required."""
    for old, new in _pairs(previous, current):
        before = {(p.name, p.location): p for p in old.parameters}
        for i, p in enumerate(new.parameters):
            was = before.get((p.name, p.location))
            if p.required and p.location != "path" and (was is None or not was.required):
                yield Finding(
                    new.place.file,
                    join_pointer(new.place.pointer, "parameters", i),
                    f"{_label(new, previous)}: {p.location} parameter {p.name} became required, "
                    f"so {_OLD_CLIENTS_WRITE}",
                    "REST_PARAMETER_NO_REQUIRE",
                )


@BREAKING.rule("REST_PARAMETER_TYPE_NO_NARROW", "rest", "parameter", "type")
def parameter_type_no_narrow(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A parameter's schema still accepts every value it accepted."""
    for old, new in _pairs(previous, current):
        before = {(p.name, p.location): i for i, p in enumerate(old.parameters)}
        for i, p in enumerate(new.parameters):
            j = before.get((p.name, p.location))
            if j is None:
                continue
            was = Ref(old.place.file, join_pointer(old.place.pointer, "parameters", j, "schema"))
            now = Ref(new.place.file, join_pointer(new.place.pointer, "parameters", i, "schema"))
            for issue in compared(previous, was, current, now, "backward"):
                yield finding(
                    "REST_PARAMETER_TYPE_NO_NARROW",
                    issue,
                    "backward",
                    subject=_label(new, previous),
                    change=f"{p.location} parameter {p.name} was narrowed",
                    consequence=_OLD_CLIENTS_WRITE,
                    previous=previous,
                )

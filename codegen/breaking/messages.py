"""Breaking-change rules of channels and their message payloads.

A payload is compared in the directions its stream's compatibility mode names (modes.py):
backward, the new subscriber reads what the previous producer wrote and the stream still
retains; forward, subscribers still on the previous contract read what the new producer writes.
Subscribers are tolerant readers (their generated models ignore undeclared fields), so adding
an optional field, or removing one, is compatible under every mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codegen.breaking.base import BREAKING, Contracts
from codegen.breaking.keywords import accepts_type, names, type_set
from codegen.breaking.modes import applied_mode, directions, promised, transitive
from codegen.breaking.payloads import compared, field_name, finding
from codegen.breaking.readers import receivers, who
from codegen.errors import Finding
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.breaking.compat import Issue
    from codegen.breaking.modes import Direction
    from codegen.model import Channel

__all__: list[str] = []

_BY_KIND: dict[tuple[str, str], str] = {
    ("forward", "field-missing"): "MESSAGE_FIELD_NO_DELETE",
    ("backward", "field-missing"): "MESSAGE_FIELD_REQUIRED_NO_ADD",
    ("backward", "field-optional"): "MESSAGE_FIELD_REQUIRED_NO_ADD",
    ("backward", "type"): "MESSAGE_FIELD_TYPE_NO_NARROW",
    ("backward", "constraint"): "MESSAGE_FIELD_TYPE_NO_NARROW",
    ("forward", "type"): "MESSAGE_FIELD_TYPE_NO_WIDEN",
    ("forward", "constraint"): "MESSAGE_FIELD_TYPE_NO_WIDEN",
    ("backward", "enum"): "MESSAGE_ENUM_VALUE_NO_DELETE",
    ("forward", "enum"): "MESSAGE_ENUM_VALUE_NO_ADD",
}
_CATCH_ALL = "MESSAGE_PAYLOAD_COMPATIBLE"
_STILL = "subscribers still on the previous contract"
_CHANGED_TYPE = "MESSAGE_FIELD_TYPE_NO_CHANGE"
_CHANGE = {
    "MESSAGE_FIELD_NO_DELETE": "{field} was removed",
    "MESSAGE_FIELD_REQUIRED_NO_ADD": "{field} became required",
    "MESSAGE_FIELD_TYPE_NO_NARROW": "{field} was narrowed",
    "MESSAGE_FIELD_TYPE_NO_WIDEN": "{field} was widened",
    "MESSAGE_ENUM_VALUE_NO_DELETE": "a value of {field} was removed",
    "MESSAGE_ENUM_VALUE_NO_ADD": "a value was added to {field}",
    _CHANGED_TYPE: "{field} changed type from {old} to {new}",
    _CATCH_ALL: "{field} changed",
}


def _pairs(previous: Contracts, current: Contracts) -> Iterator[tuple[Channel, Channel]]:
    """(previous, current) channels with the same subject whose mode reaches `previous`."""
    before = {c.subject: c for c in previous.catalog.channels.values()}
    for channel in sorted(current.catalog.channels.values(), key=lambda c: c.subject):
        old = before.get(channel.subject)
        mode = applied_mode(current, channel.subject)
        if old is None or (previous.depth and not transitive(mode)):
            continue
        if previous.depth == 0 or promised(previous, channel.subject):
            yield old, channel


def _payload(rule: str, previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """The findings of one payload rule: the issues that `_rule_of` sorts to it, one per
    field however many directions show it."""
    for old, new in _pairs(previous, current):
        seen: set[str] = set()
        for direction in directions(applied_mode(current, new.subject)):
            issues = compared(
                previous,
                old.message.payload,
                current,
                new.message.payload,
                direction,
                tolerant=True,
            )
            for issue in issues:
                types = _types(previous, current, issue, direction)
                if _rule_of(issue, direction, types) != rule or issue.field in seen:
                    continue
                seen.add(issue.field)
                yield _say(rule, issue, direction, new, (previous, current), types)


_Types = tuple[frozenset[str], frozenset[str]] | None


def _types(previous: Contracts, current: Contracts, issue: Issue, direction: Direction) -> _Types:
    """(old types, new types) of a type issue's field, when both sides name their types."""
    if issue.kind != "type":
        return None
    old, new = issue.writer, issue.reader
    if direction == "forward":
        old, new = new, old
    before = type_set(previous.workspace.resolve(old)[1])
    after = type_set(current.workspace.resolve(new)[1])
    return None if before is None or after is None else (before, after)


def _rule_of(issue: Issue, direction: Direction, types: _Types) -> str:
    """The one rule that reports an issue: a type that changed to one the other side does not
    take at all (string to integer) is neither a narrowing nor a widening."""
    if types is not None and not _covers(*types) and not _covers(*reversed(types)):
        return _CHANGED_TYPE
    return _BY_KIND.get((direction, issue.kind), _CATCH_ALL)


def _covers(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether a reader of types `a` takes every value of types `b`."""
    return all(accepts_type(a, t) for t in b)


def _say(
    rule: str,
    issue: Issue,
    direction: Direction,
    channel: Channel,
    sides: tuple[Contracts, Contracts],
    types: _Types,
) -> Finding:
    previous, current = sides
    old, new = (names(t) for t in types) if types is not None else ("", "")
    if direction == "backward":
        readers = who("new subscribers", receivers(current.catalog, channel.subject))
        consequence = f"{readers} cannot read messages the previous producer wrote"
    else:
        readers = who(_STILL, receivers(previous.catalog, channel.subject))
        consequence = f"{readers} cannot read the new messages"
    return finding(
        rule,
        issue,
        direction,
        subject=f"{channel.message.name} on {channel.subject}",
        change=_CHANGE[rule].format(field=field_name(issue), old=old, new=new),
        consequence=consequence,
        previous=previous,
    )


@BREAKING.rule("MESSAGE_FIELD_NO_DELETE", "message", "field")
def field_no_delete(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A required field of a published message is not removed where subscribers still on the
    previous contract read the new messages (FORWARD, FULL): they require it. An optional
    field may go under every mode: old subscribers do without it, and new ones ignore it in
    retained messages."""
    return _payload("MESSAGE_FIELD_NO_DELETE", previous, current)


@BREAKING.rule("MESSAGE_FIELD_REQUIRED_NO_ADD", "message", "field")
def field_required_no_add(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A published message gains no required field, and no optional field becomes required,
    where new subscribers read retained messages (BACKWARD, FULL): those lack it. An added
    optional field is compatible under every mode: old subscribers ignore it."""
    return _payload("MESSAGE_FIELD_REQUIRED_NO_ADD", previous, current)


@BREAKING.rule("MESSAGE_FIELD_NO_RENAME", "message", "field", level="WARN")
def field_no_rename(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A field of a published message is not renamed in place. Subscribers ignore names they
    do not know, so a rename passes every mode and they silently miss the value: an old one
    the new name, a new one the old name in retained messages. A WARN, since a field removed
    and another added in one change may be two changes; rename through a new major version."""
    if previous.depth:
        return
    for old, new in _pairs(previous, current):
        was, now = _Fields.of(previous, old), _Fields.of(current, new)
        gone = " and ".join(sorted(was.names - now.names))
        for name in sorted(now.names - was.names - now.required) if gone else []:
            yield Finding(
                now.place.file,
                join_pointer(now.place.pointer, "properties", name),
                f"{new.message.name} on {new.subject}: field {gone} was removed and optional "
                f"field {name} added in one change, so if it was renamed, subscribers "
                "silently miss its value",
                "MESSAGE_FIELD_NO_RENAME",
                "WARN",
            )


@dataclass(frozen=True, slots=True)
class _Fields:
    """The top-level fields of a channel's payload, and where the payload is written."""

    place: Ref
    names: frozenset[str]
    required: frozenset[str]

    @classmethod
    def of(cls, version: Contracts, channel: Channel) -> _Fields:
        place, node = version.workspace.resolve(channel.message.payload)
        node = node if isinstance(node, dict) else {}
        names, required = node.get("properties") or {}, node.get("required") or []
        return cls(place, frozenset(names), frozenset(required))


@BREAKING.rule("MESSAGE_FIELD_TYPE_NO_NARROW", "message", "field", "type")
def field_type_no_narrow(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A field's type, format, length, bounds or pattern do not narrow where new subscribers
    read retained messages (BACKWARD)."""
    return _payload("MESSAGE_FIELD_TYPE_NO_NARROW", previous, current)


@BREAKING.rule("MESSAGE_FIELD_TYPE_NO_WIDEN", "message", "field", "type")
def field_type_no_widen(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A field's type, format, length, bounds or pattern do not widen where old subscribers
    read new messages (FORWARD)."""
    return _payload("MESSAGE_FIELD_TYPE_NO_WIDEN", previous, current)


@BREAKING.rule("MESSAGE_FIELD_TYPE_NO_CHANGE", "message", "field", "type")
def field_type_no_change(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A field's type does not change to one that neither takes all of the other (string to
    integer): readers on either side reject the other's values; reported once per field."""
    return _payload(_CHANGED_TYPE, previous, current)


@BREAKING.rule("MESSAGE_ENUM_VALUE_NO_DELETE", "message", "enum")
def enum_value_no_delete(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """No value is removed from an enum of a published message: retained messages carry it."""
    return _payload("MESSAGE_ENUM_VALUE_NO_DELETE", previous, current)


@BREAKING.rule("MESSAGE_ENUM_VALUE_NO_ADD", "message", "enum")
def enum_value_no_add(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """No value is added to an enum of a published message under a FORWARD mode: old
    subscribers reject it."""
    return _payload("MESSAGE_ENUM_VALUE_NO_ADD", previous, current)


@BREAKING.rule("MESSAGE_PAYLOAD_COMPATIBLE", "message")
def payload_compatible(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """Any other payload change that its stream's mode forbids, and every comparison that
    could not be decided (as a warning)."""
    return _payload(_CATCH_ALL, previous, current)

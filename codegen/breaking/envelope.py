"""Breaking-change rules of what a message says beside its payload: its content type and the
headers of its envelope (the message's `headers` and those of its traits, such as
`schemas/envelope.yaml`'s CloudEvents headers).

A subscriber decodes the body by its content type and reads the envelope's required headers
before it looks at the payload, so a change there breaks it as surely as a payload change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codegen.breaking.base import BREAKING, Contracts
from codegen.breaking.modes import applied_mode, directions
from codegen.breaking.payloads import compared
from codegen.breaking.readers import receivers, who
from codegen.errors import Finding
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.breaking.modes import Direction
    from codegen.loader import Workspace
    from codegen.model import Channel

__all__: list[str] = []

_STILL = "subscribers still on the previous contract"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message's content type and headers, each header with the place of its schema."""

    place: Ref
    content_type: str
    headers: dict[str, Ref]
    required: frozenset[str]

    @classmethod
    def of(cls, version: Contracts, channel: Channel) -> Envelope:
        """Read from the message's own `headers` and from each of its `traits`."""
        workspace = version.workspace
        place, raw = workspace.resolve(channel.message.place)
        default = workspace.document(place.file).get("defaultContentType")
        content_type = str(raw.get("contentType") or default or "unspecified")
        sources = [Ref(place.file, join_pointer(place.pointer, "headers"))]
        sources += [
            Ref(place.file, join_pointer(place.pointer, "traits", i, "headers"))
            for i in range(len(raw.get("traits") or []))
        ]
        headers: dict[str, Ref] = {}
        required: set[str] = set()
        for source in sources:
            at, schema = _headers(workspace, source)
            for name in schema.get("properties") or {}:
                headers.setdefault(name, Ref(at.file, join_pointer(at.pointer, "properties", name)))
            required |= set(schema.get("required") or [])
        return cls(place, content_type, headers, frozenset(required))


def _headers(workspace: Workspace, source: Ref) -> tuple[Ref, dict[str, Any]]:
    """The headers schema at `source` (following `$ref`s), or an empty one where there is none."""
    *path, last = source.pointer.split("/")
    _, holder = workspace.resolve(Ref(source.file, "/".join(path)))
    if not isinstance(holder, dict) or last not in holder:
        return source, {}
    at, schema = workspace.resolve(source)
    return at, schema if isinstance(schema, dict) else {}


def _pairs(previous: Contracts, current: Contracts) -> Iterator[tuple[Channel, Channel]]:
    """(previous, current) channels of the same subject, compared with the base only."""
    if previous.depth:
        return
    before = {c.subject: c for c in previous.catalog.channels.values()}
    for channel in sorted(current.catalog.channels.values(), key=lambda c: c.subject):
        if channel.subject in before:
            yield before[channel.subject], channel


@BREAKING.rule("MESSAGE_CONTENT_TYPE_NO_CHANGE", "message", "envelope")
def content_type_no_change(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A published message keeps its content type (its `contentType`, or its document's
    `defaultContentType`): subscribers decode the body by it."""
    for old, new in _pairs(previous, current):
        was, now = Envelope.of(previous, old), Envelope.of(current, new)
        if was.content_type == now.content_type:
            continue
        yield Finding(
            now.place.file,
            join_pointer(now.place.pointer, "contentType"),
            f"{new.message.name} on {new.subject}: the content type changed from "
            f"{was.content_type} to {now.content_type}, so "
            f"{who(_STILL, receivers(previous.catalog, new.subject))} cannot decode the new "
            "messages",
            "MESSAGE_CONTENT_TYPE_NO_CHANGE",
        )


@BREAKING.rule("MESSAGE_HEADERS_COMPATIBLE", "message", "envelope")
def headers_compatible(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """The envelope's headers change as its stream's mode allows, like a payload: no header
    becomes required where new subscribers read retained messages (BACKWARD), none stops
    being required where old subscribers read new ones (FORWARD), no header's type changes."""
    for old, new in _pairs(previous, current):
        was, now = Envelope.of(previous, old), Envelope.of(current, new)
        modes = directions(applied_mode(current, new.subject))
        for direction in modes:
            yield from _requirement_changes(was, now, direction, (previous, current), new)
        for name in sorted(was.headers.keys() & now.headers.keys()):
            issues = [
                issue
                for direction in modes
                for issue in compared(
                    previous, was.headers[name], current, now.headers[name], direction
                )
            ]
            if issues:  # one finding per header, whichever directions see the change
                yield _finding(
                    now.headers[name],
                    f"{new.message.name} on {new.subject}: header {name} changed "
                    f"({issues[0].reason})",
                    issues[0].level,
                )


def _requirement_changes(
    was: Envelope,
    now: Envelope,
    direction: Direction,
    sides: tuple[Contracts, Contracts],
    channel: Channel,
) -> Iterator[Finding]:
    previous, current = sides
    about = f"{channel.message.name} on {channel.subject}"
    if direction == "backward":
        readers = who("new subscribers", receivers(current.catalog, channel.subject))
        for name in sorted(now.required - was.required):
            yield _finding(
                now.headers.get(name, now.place),
                f"{about}: header {name} became required, so {readers} cannot read messages "
                "the previous producer wrote without it",
            )
    else:
        readers = who(_STILL, receivers(previous.catalog, channel.subject))
        for name in sorted(was.required - now.required):
            yield _finding(
                now.headers.get(name, now.place),
                f"{about}: header {name} is no longer required, so {readers} cannot read new "
                "messages that lack it",
            )


def _finding(place: Ref, text: str, level: Any = "ERR") -> Finding:
    return Finding(place.file, place.pointer, text, "MESSAGE_HEADERS_COMPATIBLE", level)

"""Whole-catalog checks: ownership, streams and naming across every document (DESIGN §2).

Checks are data: each has a stable id and a purpose (its docstring), and is a pure function
from the catalog to findings. `CHECKS` is the registry; `run_checks` runs them all.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from codegen.errors import Finding
from codegen.loader import Workspace, join_pointer
from codegen.model import Catalog
from codegen.naming import camel_words, snake
from codegen.validate import service_bundle

__all__ = ["CHECKS", "Check", "run_checks"]

CheckFn = Callable[[Workspace, Catalog], Iterator[Finding]]


@dataclass(frozen=True, slots=True)
class Check:
    """A registered catalog check."""

    id: str
    purpose: str
    run: CheckFn


CHECKS: dict[str, Check] = {}


def _check(rule_id: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[rule_id] = Check(rule_id, (fn.__doc__ or "").strip(), fn)
        return fn

    return register


def run_checks(workspace: Workspace, catalog: Catalog) -> list[Finding]:
    """Run every registered check; each finding carries its check's id."""
    return [f for check in CHECKS.values() for f in check.run(workspace, catalog)]


_EVENT_SUBJECT = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")
_COMMAND_SUBJECT = re.compile(r"^[a-z][a-z0-9]*\.cmd\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_MESSAGE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PAST_IRREGULAR = frozenset({"Sent", "Paid", "Built", "Made", "Held", "Sold", "Set", "Won", "Lost"})


@_check("CHANNEL_SINGLE_SENDER")
def single_sender(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every channel is sent by exactly one service: the one whose document defines it."""
    by_subject: dict[str, list[Any]] = defaultdict(list)
    for channel in catalog.channels.values():
        by_subject[channel.subject].append(channel)
    for subject, channels in sorted(by_subject.items()):
        for extra in channels[1:]:
            first = channels[0]
            yield Finding(
                extra.place.file,
                join_pointer(extra.place.pointer, "address"),
                f"subject {subject} is also defined by {first.place.file}; a channel has one owner",
                "CHANNEL_SINGLE_SENDER",
            )
    senders: dict[Any, set[str]] = defaultdict(set)
    for service in catalog.services.values():
        for op in service.sends:
            senders[op.channel.place].add(service.name)
            if op.channel.owner != service.name:
                yield Finding(
                    op.place.file,
                    op.place.pointer,
                    f"sends on {op.channel.subject}, which {op.channel.owner} owns; "
                    "a channel is sent by one service only",
                    "CHANNEL_SINGLE_SENDER",
                )
    for place, channel in sorted(catalog.channels.items()):
        if channel.owner not in senders.get(place, set()):
            yield Finding(
                place.file,
                place.pointer,
                f"channel {channel.subject} has no send operation in its own document",
                "CHANNEL_SINGLE_SENDER",
            )


@_check("SUBJECT_ONE_STREAM")
def one_stream(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every subject is captured by exactly one stream of platform.yaml."""
    for place, channel in sorted(catalog.channels.items()):
        streams = catalog.stream_of(channel.subject)
        if len(streams) != 1:
            names = ", ".join(s.name for s in streams) or "no stream"
            yield Finding(
                place.file,
                join_pointer(place.pointer, "address"),
                f"subject {channel.subject} is captured by {names}; it needs exactly one stream",
                "SUBJECT_ONE_STREAM",
            )


@_check("SUBJECT_NAMING")
def subject_naming(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Subjects read `<context>.<event>.v<N>` (events) or `<context>.cmd.<command>.v<N>`."""
    for place, channel in sorted(catalog.channels.items()):
        name = channel.message.name
        pattern = _COMMAND_SUBJECT if channel.kind == "command" else _EVENT_SUBJECT
        expected = {snake(name)}
        if snake(name).startswith(channel.context + "_"):
            expected.add(snake(name)[len(channel.context) + 1 :])
        middle = channel.subject.split(".")[-2] if "." in channel.subject else ""
        if not pattern.match(channel.subject) or middle not in expected:
            want = (
                f"{channel.context}.cmd.{snake(name)}.v1"
                if channel.kind == "command"
                else f"{channel.context}.{sorted(expected, key=len)[0]}.v1"
            )
            yield Finding(
                place.file,
                join_pointer(place.pointer, "address"),
                f"subject {channel.subject} does not follow the naming of {name} "
                f"(expected like {want})",
                "SUBJECT_NAMING",
            )


@_check("MESSAGE_TENSE")
def message_tense(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Message names are CamelCase; events are past tense, commands imperative."""
    for channel in sorted(catalog.channels.values(), key=lambda c: c.place):
        name, place = channel.message.name, channel.message.place
        words = camel_words(name)
        past = bool(words) and (words[-1].endswith("ed") or words[-1] in _PAST_IRREGULAR)
        if not _MESSAGE_NAME.match(name):
            yield Finding(
                place.file, place.pointer, f"message name {name} is not CamelCase", "MESSAGE_TENSE"
            )
        elif channel.kind == "event" and not past:
            yield Finding(
                place.file,
                place.pointer,
                f"event {name} is not named in the past tense",
                "MESSAGE_TENSE",
            )
        elif channel.kind == "command" and (past or words[0].endswith(("ed", "ing"))):
            yield Finding(
                place.file,
                place.pointer,
                f"command {name} is not named in the imperative",
                "MESSAGE_TENSE",
            )


@_check("FIELD_SNAKE_CASE")
def field_snake_case(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every property of every payload and body is snake_case on the wire."""
    seen: set[tuple[str, str]] = set()
    for service in catalog.services.values():
        try:
            bundle, _ = service_bundle(workspace, service)
        except Exception:  # clashes are reported by example validation with their place
            continue
        for name, place in bundle.places().items():
            for prop in bundle.defs[name].get("properties") or {}:
                if not _SNAKE.match(prop) and (place.file, prop) not in seen:
                    seen.add((place.file, prop))
                    yield Finding(
                        place.file,
                        join_pointer(place.pointer, "properties", prop),
                        f"field {prop} is not snake_case",
                        "FIELD_SNAKE_CASE",
                    )


@_check("OPERATION_ID_UNIQUE")
def operation_ids(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every REST operation has an operationId, unique within its service."""
    for service in catalog.services.values():
        seen: set[str] = set()
        for endpoint in service.endpoints:
            if not endpoint.operation_id or endpoint.operation_id in seen:
                yield Finding(
                    endpoint.place.file,
                    endpoint.place.pointer,
                    f"operationId '{endpoint.operation_id}' is missing or repeated",
                    "OPERATION_ID_UNIQUE",
                )
            seen.add(endpoint.operation_id)

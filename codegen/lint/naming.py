"""Naming rules: subjects, message tense, snake_case fields."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from codegen.errors import ContractError, Finding
from codegen.lint.base import LINT
from codegen.loader import join_pointer
from codegen.naming import camel_words, snake
from codegen.validate import service_bundle

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["field_snake_case", "message_tense", "subject_naming"]

_EVENT_SUBJECT = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")
_COMMAND_SUBJECT = re.compile(r"^[a-z][a-z0-9]*\.cmd\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_MESSAGE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PAST_IRREGULAR = frozenset({"Sent", "Paid", "Built", "Made", "Held", "Sold", "Set", "Won", "Lost"})


@LINT.rule("SUBJECT_NAMING", "naming")
def subject_naming(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Subjects read `<context>.<event>.v<N>` (events) or `<context>.cmd.<command>.v<N>`."""
    for place, channel in sorted(catalog.channels.items()):
        name = channel.base_name
        pattern = _COMMAND_SUBJECT if channel.kind == "command" else _EVENT_SUBJECT
        expected = {snake(name)}
        if snake(name).startswith(channel.context + "_"):
            expected.add(snake(name)[len(channel.context) + 1 :])
        middle = channel.subject.split(".")[-2] if "." in channel.subject else ""
        if not pattern.match(channel.subject) or middle not in expected:
            want = (
                f"{channel.context}.cmd.{snake(name)}.v{channel.major}"
                if channel.kind == "command"
                else f"{channel.context}.{sorted(expected, key=len)[0]}.v{channel.major}"
            )
            yield Finding(
                place.file,
                join_pointer(place.pointer, "address"),
                f"subject {channel.subject} does not follow the naming of {name} "
                f"(expected like {want})",
                "SUBJECT_NAMING",
            )


@LINT.rule("MESSAGE_TENSE", "naming")
def message_tense(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Message names are CamelCase; events are past tense, commands imperative."""
    for channel in sorted(catalog.channels.values(), key=lambda c: c.place):
        name, place = channel.base_name, channel.message.place
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


@LINT.rule("FIELD_SNAKE_CASE", "naming", "payload")
def field_snake_case(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every property of every payload and body is snake_case on the wire."""
    seen: set[tuple[str, str]] = set()
    for service in catalog.services.values():
        try:
            bundle, _ = service_bundle(workspace, service)
        except ContractError:  # name clashes are reported by example validation, with a place
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

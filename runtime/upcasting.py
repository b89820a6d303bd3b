"""Major versions of a message side by side: the steps between them and the ids of copies.

A message's next major version is a new subject (`auth.session_revoked.v2` beside `.v1`).
A `VersionStep` turns a payload of one version into the next (an upcast) or the previous
(a downcast, for an owner that publishes both during a migration). `make generate` writes
the steps whose change is additive and names the others as hooks that the owning service
writes in `services/<owner>/versions.py`; resolving a missing hook is a ConfigurationError
naming the subjects, raised when the service starts.

Copies of one event carry ids of their own (one stream dedupes by `Nats-Msg-Id`, so equal
ids would drop a copy), derived by one rule: the oldest copy carries the event's id, each
newer copy `copy_id(id of the previous version, its subject)`. A consumer that upcasts an
older message gives its handler the id the newer copy carries, so an inbox applies the
event once whichever copies arrive.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runtime.errors import ConfigurationError, ContractError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runtime.bus.base import Channel, EventSink, MessageContext
    from runtime.eventstore.base import RecordedEvent

__all__ = [
    "Convert",
    "OlderCopy",
    "Upcasters",
    "Upcasting",
    "VersionStep",
    "copy_id",
    "major_version",
    "require",
    "send_versions",
]

Convert = Callable[[dict[str, Any]], dict[str, Any]]
"""A payload of one version (a JSON object) as the payload of another."""

_NAMESPACE = uuid.UUID("9f0c2a4e-7d1b-4c55-8a8e-a4c0a4c0a4c0")


def copy_id(message_id: str, subject: str) -> str:
    """The id of the copy on `subject` of the message whose previous version has `message_id`."""
    return str(uuid.uuid5(_NAMESPACE, f"{message_id} {subject}"))


_VERSIONED = re.compile(r"^(?P<base>[a-z0-9_.]+)\.v(?P<major>[1-9][0-9]*)$")


def major_version(subject: str) -> tuple[str, int] | None:
    """`auth.session_revoked.v2` -> (`auth.session_revoked`, 2); None for an unversioned one.
    The one reading of a subject's version, for the generator and the runtime alike."""
    match = _VERSIONED.match(subject)
    return (match["base"], int(match["major"])) if match else None


def _major(subject: str) -> int:
    split = major_version(subject)
    return split[1] if split else 1


@dataclass(frozen=True, slots=True)
class VersionStep:
    """One step between adjacent major versions of a message: `source` -> `target` subject.

    `convert` is the generated step; a step the generator cannot write names its `hook`,
    `module:function` in the owning service, instead.
    """

    source: str
    target: str
    convert: Convert | None = None
    hook: str = ""

    @property
    def upward(self) -> bool:
        """Whether the step upcasts (to a later version)."""
        return _major(self.target) > _major(self.source)

    def resolve(self) -> Convert:
        """The function that makes the step; a ConfigurationError if its hook is missing."""
        if self.convert is not None:
            return self.convert
        module, _, name = self.hook.partition(":")
        try:
            function = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"{self.source} -> {self.target} changes meaning, so its owner writes the step:"
                f" define {name}(payload: dict) -> dict in {module} ({exc})"
            ) from exc
        if not callable(function):
            raise ConfigurationError(f"{self.hook} ({self.source} -> {self.target}) is no function")
        return function  # type: ignore[no-any-return]

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """`payload` of `source` as a payload of `target`."""
        return self.resolve()(payload)


def require(steps: Iterable[VersionStep]) -> None:
    """Resolve every step now, so a missing hook fails the start, naming its subjects."""
    for step in steps:
        step.resolve()


@dataclass(frozen=True, slots=True)
class Upcasting:
    """How a subscription on an older version hands its handler the newest one."""

    steps: tuple[VersionStep, ...]
    """From the subscription's subject up to the newest, in order."""
    newest: Channel[Any]

    def read(self, old: BaseModel, context: MessageContext) -> tuple[BaseModel, MessageContext]:
        """An older message, validated by its own model, as the newest version and the
        context its newest copy would carry (id and type)."""
        payload = old.model_dump(mode="json", exclude_none=True)
        message_id = context.id
        for step in self.steps:
            try:
                payload = step.apply(payload)
            except (KeyError, TypeError, ValueError) as exc:  # a data error: dead-letter it
                raise ContractError(f"upcasting {step.source} -> {step.target}: {exc!r}") from exc
            message_id = copy_id(message_id, step.target)
        model = self.newest.model.model_validate(payload, extra="ignore")
        return model, replace(context, id=message_id, type=self.newest.ce_type)


@dataclass(frozen=True, slots=True)
class OlderCopy:
    """An older version an owner still publishes beside the newest, and the downcasts to it."""

    channel: Channel[Any]
    steps: tuple[VersionStep, ...]
    """From the newest version down to `channel`'s, in order."""


async def send_versions(
    sink: EventSink,
    channel: Channel[Any],
    payload: BaseModel,
    *,
    older: Sequence[OlderCopy],
    aggregate_id: str,
    cause: MessageContext | None = None,
    message_id: str | None = None,
) -> str:
    """Send `payload` on `channel` and a copy on each older version; the newest's id.

    The oldest copy carries `message_id` (or a new id); each newer one the id derived from
    the previous (`copy_id`). Each older payload is validated by its own closed model, so a
    step cannot make the owner send what that version's contract does not say.
    """
    base = message_id if message_id is not None else str(uuid.uuid4())
    data = payload.model_dump(mode="json", exclude_none=True)
    copies: list[tuple[Channel[Any], BaseModel]] = []
    for copy in sorted(older, key=lambda c: _major(c.channel.subject)):
        converted = data
        for step in copy.steps:
            converted = step.apply(converted)
        copies.append((copy.channel, copy.channel.model.model_validate(converted)))
    copies.append((channel, payload))
    ids = [base]
    for newer, _ in copies[1:]:
        ids.append(copy_id(ids[-1], newer.subject))
    for (target, body), copy_ce_id in zip(copies, ids, strict=True):
        await sink.send(target, body, aggregate_id=aggregate_id, cause=cause, message_id=copy_ce_id)
    return ids[-1]


class Upcasters:
    """The upcasts of a platform, by source subject: stored events read as their newest."""

    def __init__(self, steps: Iterable[VersionStep]) -> None:
        self._by_source = {s.source: s for s in steps if s.upward}

    def __bool__(self) -> bool:
        return bool(self._by_source)

    def newest(self, event: RecordedEvent) -> RecordedEvent:
        """`event` upcast step by step to the newest version known, or as it is."""
        step = self._by_source.get(event.subject)
        if step is None:
            return event
        payload = event.json()
        assert isinstance(payload, dict), "an event payload is a JSON object"
        subject = event.subject
        while step is not None:
            payload = step.apply(payload)
            subject = step.target
            step = self._by_source.get(subject)
        return replace(
            event,
            subject=subject,
            type=f"a4co.{subject}",
            payload=json.dumps(payload, separators=(",", ":")).encode(),
        )

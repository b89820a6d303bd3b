"""Breaking-change rules of channels and operations: what is sent, to whom, on which subject.

A channel leaves the contracts in one way only: retired, once a newer major version that
`x-replaces` it exists and no service of the base contracts receives it any more
(contracts/README.md "Compatibility"). A command that loses its last receiver is executed by
no one; a new receiver of a deprecated channel starts a migration that is already ending.
An event-sourced owner (`event_sourced` in platform.yaml) never retires an old version: its
stored streams hold that version for good, so the channel stays as `x-stored-only`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from codegen.breaking.base import BREAKING, Contracts
from codegen.breaking.readers import listed, receivers, who
from codegen.errors import Finding
from codegen.loader import join_pointer
from runtime.upcasting import major_version

if TYPE_CHECKING:
    from codegen.model import Channel, Operation

__all__: list[str] = []


def _counterpart(old: Channel, current: Contracts, known: set[str]) -> Channel | None:
    """The current channel that took `old`'s place: same owner and key, or same message."""
    for channel in sorted(current.catalog.channels.values(), key=lambda c: c.subject):
        same = (channel.owner, channel.key) == (old.owner, old.key)
        if channel.subject not in known and (same or channel.message.name == old.message.name):
            return channel
    return None


def _new_major(old: str, new: str) -> bool:
    a, b = major_version(old), major_version(new)
    return bool(a and b and a[0] == b[0] and b[1] > a[1])


def _gone(previous: Contracts, current: Contracts) -> Iterator[Channel]:
    """Previous channels whose subject no longer exists (compared with the base only)."""
    if previous.depth:
        return
    now = {c.subject for c in current.catalog.channels.values()}
    for old in sorted(previous.catalog.channels.values(), key=lambda c: c.subject):
        if old.subject not in now:
            yield old


def _successor(old: Channel, current: Contracts) -> Channel | None:
    """The current channel that declares `x-replaces: <old subject>`, if one does."""
    found = [c for c in current.catalog.channels.values() if c.replaces == old.subject]
    return min(found, key=lambda c: c.subject) if found else None


@BREAKING.rule("CHANNEL_NO_DELETE", "channel")
def channel_no_delete(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A channel is not removed unless a newer major version `x-replaces` it: without that
    link nothing says where its subscribers are to go."""
    known = {c.subject for c in previous.catalog.channels.values()}
    for old in _gone(previous, current):
        new = _counterpart(old, current, known)
        if _successor(old, current) is not None:
            continue
        if new is not None and not _new_major(old.subject, new.subject):
            continue  # a rename in place: CHANNEL_SUBJECT_NO_RENAME
        readers = who("its subscribers", receivers(previous.catalog, old.subject))
        instead = f" when {new.subject} came" if new is not None else ""
        yield Finding(
            old.place.file,
            old.place.pointer,
            f"channel {old.subject} ({old.message.name}) was removed{instead} and no channel "
            f"x-replaces it, so {readers} no longer receive anything",
            "CHANNEL_NO_DELETE",
        )


@BREAKING.rule("CHANNEL_NO_RETIRE_WHILE_RECEIVED", "channel", "version")
def no_retire_while_received(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """An old major version is retired (removed while a newer one `x-replaces` it) only when
    no service of the base contracts receives it: its receivers move to the new version in
    a change of their own, deployed before the old subject stops being published."""
    for old in _gone(previous, current):
        new = _successor(old, current)
        readers = receivers(previous.catalog, old.subject)
        if new is None or not readers:
            continue
        yield Finding(
            old.place.file,
            old.place.pointer,
            f"channel {old.subject} was retired while {listed(readers)} still "
            f"receive{'s' * (len(readers) == 1)} it in the contracts at {previous.label}: "
            f"move {'it' if len(readers) == 1 else 'them'} to {new.subject} in a change of "
            "its own first",
            "CHANNEL_NO_RETIRE_WHILE_RECEIVED",
        )


@BREAKING.rule("CHANNEL_NO_RETIRE_WHILE_STORED", "channel", "version")
def no_retire_while_stored(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """An old major version of a message whose owner is event-sourced is never removed: the
    owner's stored streams keep its events for good, and the upcast that reads them back is
    generated only while the channel is declared; keep it as `x-stored-only: true`."""
    sourced = set(previous.catalog.event_sourced) | set(current.catalog.event_sourced)
    for old in _gone(previous, current):
        new = _successor(old, current)
        if new is None or old.owner not in sourced:
            continue  # without a successor it is CHANNEL_NO_DELETE
        yield Finding(
            old.place.file,
            old.place.pointer,
            f"channel {old.subject} was removed, but its owner {old.owner} is event-sourced: "
            f"its stored {old.subject} events would become unreadable; keep the channel, "
            f"unsent and unreceived, as x-stored-only: true, upcast to {new.subject} on load",
            "CHANNEL_NO_RETIRE_WHILE_STORED",
        )


@BREAKING.rule("CHANNEL_SUBJECT_NO_RENAME", "channel")
def subject_no_rename(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A channel's subject is not renamed in place: a breaking change takes a new major
    version (`...v2`) next to the old subject."""
    known = {c.subject for c in previous.catalog.channels.values()}
    for old in _gone(previous, current):
        new = _counterpart(old, current, known)
        if new is None or _new_major(old.subject, new.subject):
            continue
        readers = who("its subscribers", receivers(previous.catalog, old.subject))
        yield Finding(
            new.place.file,
            join_pointer(new.place.pointer, "address"),
            f"subject {old.subject} was renamed to {new.subject} in place, without a new "
            f"major version, so {readers} no longer receive it",
            "CHANNEL_SUBJECT_NO_RENAME",
        )


@BREAKING.rule("COMMAND_RECEIVER_NO_DELETE", "operation")
def command_receiver_no_delete(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A command that is still sent keeps a receiver: removing its last receive operation
    leaves the commands its sender publishes to be executed by no one."""
    if previous.depth:
        return
    sent = {op.channel.subject: op for s in current.catalog.services.values() for op in s.sends}
    for subject, send in sorted(sent.items()):
        before = receivers(previous.catalog, subject)
        if send.channel.kind != "command" or not before or receivers(current.catalog, subject):
            continue
        yield Finding(
            send.place.file,
            send.place.pointer,
            f"{send.channel.message.name} on {subject} lost its last receiver "
            f"({listed(before)}), so the commands {send.service} sends are executed by no one",
            "COMMAND_RECEIVER_NO_DELETE",
        )


@BREAKING.rule("DEPRECATED_CHANNEL_NO_NEW_RECEIVER", "channel", "version", level="WARN")
def deprecated_no_new_receiver(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """No service starts receiving a deprecated channel: it would have to move again before
    the sunset; receive the version that replaces it."""
    if previous.depth:
        return
    for op in _receives(current):
        deprecation = op.channel.deprecation
        if deprecation is None or op.service in receivers(previous.catalog, op.channel.subject):
            continue
        instead = deprecation.replaced_by or "its successor"
        yield Finding(
            op.place.file,
            op.place.pointer,
            f"{op.service} started receiving {op.channel.subject}, deprecated until "
            f"{deprecation.sunset.isoformat()}: receive {instead} instead",
            "DEPRECATED_CHANNEL_NO_NEW_RECEIVER",
        )


def _receives(version: Contracts) -> list[Operation]:
    ops = [op for s in version.catalog.services.values() for op in s.receives]
    return sorted(ops, key=lambda op: (op.service, op.key))

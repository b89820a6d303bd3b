"""Rules over the graph of channels: one sender per channel, one stream per subject, every
receiver able to read what its sender publishes, every message received, every consumer
filter inside its stream."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from codegen.breaking.compat import Issue, Schema, compare
from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog, Channel, Operation

__all__ = [
    "command_has_receiver",
    "consumer_filter_in_stream",
    "message_has_receiver",
    "one_stream",
    "receive_payload_compatible",
    "receive_payload_undecided",
    "single_sender",
]


@LINT.rule("CHANNEL_SINGLE_SENDER", "ownership")
def single_sender(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every channel is sent by exactly one service: the one whose document defines it."""
    # A deprecated channel whose replacement its owner sends may have no send operation
    # left: the owner's migration window is closed, and the channel stays declared (its
    # retained messages still read) until it is retired. A stored-only channel has none by
    # definition (VERSION_STORED_ONLY checks it).
    by_subject: dict[str, list[Channel]] = defaultdict(list)
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
    senders: dict[Ref, set[str]] = defaultdict(set)
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
    sent = {op.channel.subject for s in catalog.services.values() for op in s.sends}
    for place, channel in sorted(catalog.channels.items()):
        replaced = channel.deprecation is not None and channel.deprecation.replaced_by in sent
        unsent = replaced or channel.stored_only
        if channel.owner not in senders.get(place, set()) and not unsent:
            yield Finding(
                place.file,
                place.pointer,
                f"channel {channel.subject} has no send operation in its own document",
                "CHANNEL_SINGLE_SENDER",
            )


@LINT.rule("SUBJECT_ONE_STREAM", "streams")
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


def _receptions(workspace: Workspace, catalog: Catalog) -> Iterator[tuple[Operation, Ref, Issue]]:
    """(receive operation, reader payload, issue) wherever a receiver reads a payload of its
    own instead of the sender's: a message it declares, or a channel it defines itself."""
    senders: dict[str, list[Channel]] = defaultdict(list)
    for service in catalog.services.values():
        for op in service.sends:
            senders[op.channel.subject].append(op.channel)
    for service in sorted(catalog.services.values(), key=lambda s: s.name):
        for op in service.receives:
            _, raw = workspace.resolve(op.place)
            readers = {op.channel.message.payload}
            for i in range(len(raw.get("messages") or [])):
                place = Ref(op.place.file, join_pointer(op.place.pointer, "messages", i))
                message, _ = workspace.resolve(place)
                readers.add(Ref(message.file, join_pointer(message.pointer, "payload")))
            writers = {c.message.payload for c in senders.get(op.channel.subject, [])}
            for writer in sorted(writers):
                for reader in sorted(readers - {writer}):
                    # Receivers read tolerantly: a field they do not declare is ignored.
                    writes, reads = Schema(workspace, writer), Schema(workspace, reader)
                    for issue in compare(writes, reads, tolerant=True):
                        yield op, reader, issue


def _say(op: Operation, issue: Issue) -> Finding:
    return Finding(
        issue.reader.file,
        issue.reader.pointer,
        f"{op.service} receives {op.channel.subject} with a payload of its own that does not "
        f"accept what its sender publishes: {issue.reason}",
    )


@LINT.rule("RECEIVE_PAYLOAD_COMPATIBLE", "graph", "payload")
def receive_payload_compatible(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """A receiver that declares its own payload accepts everything its sender may publish
    (a receiver whose channel `$ref`s the owner's is compatible by construction)."""
    for op, _, issue in _receptions(workspace, catalog):
        if issue.level == "ERR":
            yield _say(op, issue)


@LINT.rule("RECEIVE_PAYLOAD_UNDECIDED", "graph", "payload", level="WARN")
def receive_payload_undecided(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Where a receiver's own payload cannot be proved to accept its sender's, say so."""
    for op, _, issue in _receptions(workspace, catalog):
        if issue.level == "WARN":
            yield _say(op, issue)


@LINT.rule("MESSAGE_HAS_RECEIVER", "graph", level="WARN")
def message_has_receiver(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every message that is sent has at least one receiver somewhere in the catalog."""
    received = {op.channel.subject for s in catalog.services.values() for op in s.receives}
    for service in sorted(catalog.services.values(), key=lambda s: s.name):
        for op in service.sends:
            if op.channel.subject not in received:
                yield Finding(
                    op.place.file,
                    op.place.pointer,
                    f"{op.channel.message.name} on {op.channel.subject} is sent but no "
                    "service receives it",
                )


@LINT.rule("COMMAND_HAS_RECEIVER", "graph")
def command_has_receiver(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every command that is sent has a receiver: a command nobody receives is executed by no
    one, whereas an event nobody receives yet is only a warning (MESSAGE_HAS_RECEIVER)."""
    received = {op.channel.subject for s in catalog.services.values() for op in s.receives}
    for service in sorted(catalog.services.values(), key=lambda s: s.name):
        for op in service.sends:
            if op.channel.kind == "command" and op.channel.subject not in received:
                yield Finding(
                    op.place.file,
                    op.place.pointer,
                    f"command {op.channel.message.name} on {op.channel.subject} is sent by "
                    f"{service.name} but no service receives it, so no one executes it",
                )


@LINT.rule("CONSUMER_FILTER_IN_STREAM", "graph", "streams")
def consumer_filter_in_stream(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every consumer's filter subject (its channel's subject, or `x-consumer.filter_subject`)
    lies inside the subjects of the one stream that captures the channel."""
    for service in sorted(catalog.services.values(), key=lambda s: s.name):
        for op in service.receives:
            streams = catalog.stream_of(op.channel.subject)
            if len(streams) != 1:
                continue  # SUBJECT_ONE_STREAM reports it
            _, raw = workspace.resolve(op.place)
            declared = (raw.get("x-consumer") or {}).get("filter_subject")
            subject = declared if isinstance(declared, str) else op.channel.subject
            inside = any(_within(subject, f) for f in streams[0].subjects)
            if not inside or not _within(op.channel.subject, subject):
                where = join_pointer(op.place.pointer, "x-consumer", "filter_subject")
                yield Finding(
                    op.place.file,
                    where if declared else op.place.pointer,
                    f"consumer filter {subject} of {service.name} is not inside stream "
                    f"{streams[0].name} ({', '.join(streams[0].subjects)}) or misses "
                    f"{op.channel.subject}",
                )


def _within(inner: str, outer: str) -> bool:
    """Whether every subject the NATS pattern `inner` matches is matched by `outer` too."""
    a, b = inner.split("."), outer.split(".")
    for i, token in enumerate(b):
        if token == ">":
            return len(a) > i
        if i >= len(a) or a[i] == ">" or (token != "*" and a[i] != token):
            return False
    return len(a) == len(b)

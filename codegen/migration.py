"""Where each versioned message stands: its versions, who sends and who reads each one, and
whether an old version may be removed (`a4co contracts status`, the catalog's versions page).

The contracts say who sends and receives each version; the running platform says how many
messages each reader's durable still has to handle. A durable on the broker whose filter
reaches an old subject reads it too, even when no contract receives that subject any more
(a consumer of v2 that also reads v1 and upcasts it during the migration window). An old
version of an event-sourced owner is never removed: it leaves the bus and stays declared,
stored only, so its stored events are upcast on load.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from codegen.model import subject_matches
from codegen.versions import major_version

if TYPE_CHECKING:
    from datetime import date

    from codegen.model import Catalog, Channel, Operation

__all__ = [
    "LiveConsumer",
    "Reader",
    "Verdict",
    "Version",
    "VersionedMessage",
    "versioned_messages",
]

State = Literal["current", "deprecated", "replaced", "stored only", "retired"]


@dataclass(frozen=True, slots=True)
class LiveConsumer:
    """A durable consumer on the broker: its stream, filter subjects and messages left."""

    stream: str
    durable: str
    filters: tuple[str, ...]
    pending: int
    """`num_pending` + `num_ack_pending`: messages not yet delivered or not yet acked."""
    by_subject: tuple[tuple[str, int], ...] = ()
    """Where the durable reads several versioned subjects: the messages of each it has left."""

    def pending_on(self, subject: str) -> int:
        """The messages of `subject` the durable has left (all it has, for one subject)."""
        return dict(self.by_subject).get(subject, self.pending)


@dataclass(frozen=True, slots=True)
class Reader:
    """A service reading one version, through one durable; `pending` is None when unknown."""

    service: str
    durable: str
    declared: bool
    """True when the service's contract receives this version; False for a durable the
    broker shows reading it (a reader of a newer version that upcasts this one)."""
    pending: int | None

    def __str__(self) -> str:
        return f"{self.service} ({'?' if self.pending is None else self.pending} pending)"


@dataclass(frozen=True, slots=True)
class Version:
    """One major version of a message."""

    subject: str
    major: int
    state: State
    message: str
    sunset: date | None
    replaced_by: str | None
    replaces: str | None
    producers: tuple[str, ...]
    readers: tuple[Reader, ...]
    kept: bool = False
    """True when its owner is event-sourced: its stored events are read back for good."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an old version may be removed now, and the sentence that says why."""

    subject: str
    removable: bool
    text: str


@dataclass(frozen=True, slots=True)
class VersionedMessage:
    """A message with more than one major version, oldest first, and a verdict per old one."""

    name: str
    base: str
    versions: tuple[Version, ...]
    verdicts: tuple[Verdict, ...]


def versioned_messages(
    catalog: Catalog, live: list[LiveConsumer] | None = None
) -> list[VersionedMessage]:
    """Every message whose channels are linked by `x-replaces`/`x-deprecated`, with a verdict
    on each old version; `live` is None when the running platform could not be asked."""
    by_subject = {c.subject: c for c in catalog.channels.values()}
    groups: dict[str, set[str]] = defaultdict(set)
    for channel in catalog.channels.values():
        links = {channel.replaces, channel.deprecation and channel.deprecation.replaced_by}
        split = major_version(channel.subject)
        if split is not None and links != {None}:
            groups[split[0]] |= {channel.subject, *(s for s in links if isinstance(s, str))}
    out = []
    for base, subjects in sorted(groups.items()):
        versions = tuple(
            _version(catalog, subject, by_subject.get(subject), live)
            for subject in sorted(subjects, key=_major)
        )
        verdicts = tuple(_verdict(v, live is not None) for v in versions[:-1])
        name = next((v.message for v in reversed(versions) if v.message), base)
        out.append(VersionedMessage(name, base, versions, verdicts))
    return out


def _major(subject: str) -> int:
    split = major_version(subject)
    return split[1] if split else 0


def _version(
    catalog: Catalog, subject: str, channel: Channel | None, live: list[LiveConsumer] | None
) -> Version:
    if channel is None:
        return Version(subject, _major(subject), "retired", "", None, None, None, (), ())
    sends = [op for s in catalog.services.values() for op in s.sends]
    receives = [op for s in catalog.services.values() for op in s.receives]
    deprecation = channel.deprecation
    state: State = "current"
    if channel.stored_only:
        state = "stored only"
    elif deprecation is not None:
        state = "deprecated"
    elif any(c.replaces == subject for c in catalog.channels.values()):
        state = "replaced"
    return Version(
        subject=subject,
        major=_major(subject),
        state=state,
        message=channel.message.name,
        sunset=deprecation.sunset if deprecation else None,
        replaced_by=deprecation.replaced_by if deprecation else None,
        replaces=channel.replaces,
        producers=tuple(sorted({op.service for op in sends if op.channel.subject == subject})),
        readers=_readers(receives, subject, live),
        kept=channel.owner in catalog.event_sourced,
    )


def _readers(
    receives: list[Operation], subject: str, live: list[LiveConsumer] | None
) -> tuple[Reader, ...]:
    """The contracts' receivers of `subject`, then the broker's other durables that read it."""
    pending = {c.durable: c.pending_on(subject) for c in live or []}
    declared = sorted(
        (op.service, op.durable or "") for op in receives if op.channel.subject == subject
    )
    readers = [
        Reader(service, durable, True, None if live is None else pending.get(durable, 0))
        for service, durable in declared
    ]
    for consumer in sorted(live or [], key=lambda c: c.durable):
        reads = any(subject_matches(f, subject) for f in consumer.filters)
        if reads and consumer.durable not in {d for _, d in declared}:
            service = _owner(receives, consumer.durable)
            left = consumer.pending_on(subject)
            readers.append(Reader(service, consumer.durable, False, left))
    return tuple(readers)


def _owner(receives: list[Operation], durable: str) -> str:
    """The service a durable belongs to: the one whose operation names it, else the service
    its name starts with (durables are `<service>_<handler>`), else the durable itself."""
    for op in receives:
        if op.durable == durable:
            return op.service
    prefixed = [op.service for op in receives if durable.startswith(f"{op.service}_")]
    return max(prefixed, key=len) if prefixed else durable


def _verdict(version: Version, live_known: bool) -> Verdict:
    """May `version` (not the newest) be removed now?"""
    label = f"v{version.major}"
    if version.state == "retired":
        return Verdict(version.subject, False, f"{label} is retired")
    if version.state == "stored only":
        return Verdict(
            version.subject,
            False,
            f"{label} is retired from the bus; stored events are upcast on load",
        )
    declared = [r for r in version.readers if r.declared]
    busy = [r for r in version.readers if not r.declared and (r.pending or 0) > 0]
    if declared:
        names = ", ".join(str(r) for r in declared)
        whose = "its contract receives" if len(declared) == 1 else "their contracts receive"
        return Verdict(version.subject, False, f"still read by {names}: {whose} {label}")
    if busy:
        names = ", ".join(str(r) for r in busy)
        return Verdict(version.subject, False, f"still read by {names}")
    if version.kept:
        return Verdict(
            version.subject,
            False,
            f"{label} can leave the bus but not the contracts: its owner keeps its events, so "
            "mark it x-stored-only (instead of x-deprecated) rather than removing it",
        )
    if not live_known:
        return Verdict(
            version.subject,
            True,
            f"{label} can be removed as far as the contracts say; the live pending counts are "
            f"unavailable, so check that no durable still has {label} messages to read",
        )
    return Verdict(version.subject, True, f"{label} can be removed")

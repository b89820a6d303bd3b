"""The intermediate model of the whole catalog: what every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from codegen.loader import Ref
from runtime.upcasting import major_version

__all__ = [
    "COMPATIBILITY_MODES",
    "AlertPolicy",
    "Body",
    "Catalog",
    "Channel",
    "ConsumerDefaults",
    "Endpoint",
    "Example",
    "LatencyObjective",
    "Message",
    "Operation",
    "Parameter",
    "Response",
    "Service",
    "Stream",
    "subject_matches",
]


@dataclass(frozen=True, slots=True)
class Example:
    """A named example value and where it is written."""

    name: str
    value: Any
    place: Ref


COMPATIBILITY_MODES = (
    "BACKWARD",
    "FORWARD",
    "FULL",
    "BACKWARD_TRANSITIVE",
    "FORWARD_TRANSITIVE",
    "FULL_TRANSITIVE",
)
"""A stream's compatibility modes, as in schema registries: who must read whose messages."""


@dataclass(frozen=True, slots=True)
class Stream:
    """A JetStream stream of `platform.yaml`."""

    name: str
    subjects: tuple[str, ...]
    retention: str
    max_age: float
    replicas: int
    duplicate_window: float
    description: str
    place: Ref
    compatibility: str = "FULL_TRANSITIVE"
    """How a subject's contract may change (`COMPATIBILITY_MODES`); see contracts/README.md."""


@dataclass(frozen=True, slots=True)
class ConsumerDefaults:
    """Consumer settings that apply where an operation's `x-consumer` is silent."""

    max_deliver: int = 5
    ack_wait: float = 30.0
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0)
    max_ack_pending: int = 1000
    concurrency: int = 16
    batch: int = 1
    """How many messages a worker may handle in one transaction (1: each its own)."""
    linger: float = 0.0
    """How long a worker waits for more messages to handle in one transaction with one."""
    max_lag: int = 1000
    """Messages waiting for the durable above which, for `AlertPolicy.lag_for`, it alerts."""

    def policy_args(self) -> str:
        """The keyword arguments of the runtime's `ConsumerPolicy` for these settings."""
        args = (
            f"max_deliver={self.max_deliver}, ack_wait={self.ack_wait}, "
            f"backoff={self.backoff!r}, max_ack_pending={self.max_ack_pending}, "
            f"concurrency={self.concurrency}"
        )
        if self.batch != 1:
            args += f", batch={self.batch}"
        return f"{args}, linger={self.linger}" if self.linger else args


@dataclass(frozen=True, slots=True)
class LatencyObjective:
    """An operation's service level (`x-slo`): `percentile` % of calls finish within `latency`."""

    percentile: float
    latency: float
    """Seconds (written in milliseconds in the contract)."""
    place: Ref

    @property
    def budget(self) -> float:
        """The fraction of calls allowed to be slower than `latency` (1 - percentile/100)."""
        return round(1.0 - self.percentile / 100.0, 6)

    def __str__(self) -> str:
        percentile = f"{self.percentile:g}"
        return f"p{percentile} < {self.latency * 1000:g} ms"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """How long a symptom lasts before it alerts (`platform.yaml`'s `alerts`), in seconds."""

    lag_for: float = 300.0
    """A durable's lag above its `max_lag` this long."""
    backlog_for: float = 600.0
    """An outbox backlog that grows this long."""
    error_ratio: float = 0.05
    """Failed handlings (retry, dead letter) over all handlings of an operation, over 5m."""
    error_for: float = 300.0
    saga_overdue_for: float = 300.0
    """A saga past its deadline, not timed out by the scanner, this long."""


@dataclass(frozen=True, slots=True)
class Message:
    """A message: its name, docs, payload schema and examples."""

    name: str
    title: str
    summary: str
    description: str
    payload: Ref
    examples: tuple[Example, ...]
    place: Ref


@dataclass(frozen=True, slots=True)
class Deprecation:
    """A channel's `x-deprecated`: the version that replaces it and the day it may go."""

    sunset: date
    replaced_by: str | None
    note: str
    place: Ref


@dataclass(frozen=True, slots=True)
class Channel:
    """A subject owned by the one service whose document defines it."""

    key: str
    subject: str
    description: str
    owner: str
    message: Message
    place: Ref
    replaces: str | None = None
    """The subject of the previous major version (`x-replaces`), if this channel is a new one."""
    deprecation: Deprecation | None = None
    """When and by what this channel is to be replaced (`x-deprecated`), if it is."""
    stored_only: bool = False
    """Retired from the bus but kept for its owner's event store (`x-stored-only`): its
    model and upcasts are generated, nothing that sends or receives it."""

    @property
    def kind(self) -> Literal["event", "command"]:
        """Commands live under `<context>.cmd.`; everything else is an event."""
        return "command" if ".cmd." in self.subject else "event"

    @property
    def context(self) -> str:
        """First token of the subject: the stream's context."""
        return self.subject.split(".", 1)[0]

    @property
    def major(self) -> int:
        """The subject's major version (`.v2` -> 2); 1 for an unversioned subject."""
        split = major_version(self.subject)
        return split[1] if split else 1

    @property
    def base_name(self) -> str:
        """The message name without its version: `OrderPlacedV2` on a `.v2` subject and
        `OrderPlaced` on any subject are both `OrderPlaced`."""
        suffix = f"V{self.major}" if self.major > 1 else ""
        name = self.message.name
        return name.removesuffix(suffix) if suffix and name != suffix else name

    @property
    def model_name(self) -> str:
        """The class of its payload: the message name, with `V<n>` from version 2 on, so two
        versions of one message live side by side in a service's models (`OrderPlacedV2`,
        whether the message is named `OrderPlaced` or already `OrderPlacedV2`)."""
        return self.base_name + (f"V{self.major}" if self.major > 1 else "")

    @property
    def version_suffix(self) -> str:
        """What code names of this version end with: `_v2` from version 2 on, else nothing."""
        return f"_v{self.major}" if self.major > 1 else ""


@dataclass(frozen=True, slots=True)
class Operation:
    """A send or receive operation of one service on one channel."""

    service: str
    key: str
    action: Literal["send", "receive"]
    channel: Channel
    summary: str
    consumer: ConsumerDefaults
    durable: str | None
    place: Ref
    slo: LatencyObjective | None = None
    """The handler's latency objective (`x-slo` of a receive operation), if it declares one."""
    older: tuple[Channel, ...] = ()
    """Older versions a receive operation consumes too, newest first: the channels its
    channel `x-replaces`, while they are still declared; each is upcast for the handler."""

    @property
    def durables(self) -> tuple[tuple[Channel, str], ...]:
        """Each (channel, durable) a receive operation consumes with: its own channel's, then
        one per older version it reads too, newest first; empty for a send."""
        if self.durable is None:
            return ()
        own = ((self.channel, self.durable),)
        return own + tuple((c, older_durable(self.durable, self.channel, c)) for c in self.older)


def older_durable(durable: str, newest: Channel, older: Channel) -> str:
    """The durable of a receive operation on its older version `older`: the operation's own
    durable with that version's suffix (`gateway_on_session_revoked` for v1 beside
    `gateway_on_session_revoked_v2`), so a v1 durable that existed keeps its position."""
    return durable.removesuffix(newest.version_suffix) + older.version_suffix


@dataclass(frozen=True, slots=True)
class Parameter:
    """A path or query parameter of an endpoint (its schema resolved)."""

    name: str
    location: Literal["path", "query"]
    required: bool
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Body:
    """A JSON body: the named schema it references and its examples."""

    schema: Ref
    examples: tuple[Example, ...]
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Response:
    """One documented response of an endpoint."""

    status: int
    description: str
    body: Body | None
    content_type: str | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A REST operation."""

    service: str
    operation_id: str
    method: str
    path: str
    summary: str
    description: str
    parameters: tuple[Parameter, ...]
    request: Body | None
    responses: tuple[Response, ...]
    links: tuple[str, ...]
    emits: tuple[str, ...]
    place: Ref
    secured: bool = False
    """Whether the operation's effective `security` asks for a bearer token."""
    roles: tuple[str, ...] = ()
    """The roles of `x-roles`: the caller must hold one of them."""
    slo: LatencyObjective | None = None
    """The operation's latency objective (`x-slo`), if it declares one."""

    @property
    def success(self) -> Response:
        """The first 2xx response: what the handler returns."""
        return next(r for r in self.responses if 200 <= r.status < 300)


@dataclass(slots=True)
class Service:
    """One service: its documents, operations and endpoints."""

    name: str
    title: str = ""
    description: str = ""
    asyncapi: str | None = None
    openapi: str | None = None
    sends: list[Operation] = field(default_factory=list)
    receives: list[Operation] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    stored: list[Channel] = field(default_factory=list)
    """Its channels kept for its event store only (`x-stored-only`), read back on load."""
    calls: list[Call] = field(default_factory=list)
    """The REST operations of other services it calls (`x-calls` of its documents)."""


@dataclass(frozen=True, slots=True)
class Call:
    """One REST operation a service calls: the callee and its operationId."""

    service: str
    operation_id: str
    place: Ref


@dataclass(slots=True)
class Catalog:
    """Every service, channel and stream of the platform."""

    services: dict[str, Service] = field(default_factory=dict)
    channels: dict[Ref, Channel] = field(default_factory=dict)
    streams: list[Stream] = field(default_factory=list)
    defaults: ConsumerDefaults = field(default_factory=ConsumerDefaults)
    dlq_operators: tuple[str, ...] = ()
    """Services that read, remove and redrive dead letters (`platform.yaml`)."""
    event_sourced: tuple[str, ...] = ()
    """Services whose state is their stored events, kept for good (`platform.yaml`): an old
    version of a message they own stays readable (`x-stored-only`), never deleted."""
    alerts: AlertPolicy = field(default_factory=AlertPolicy)

    def callers(self, service: str, operation_id: str) -> list[str]:
        """The services that declare calling `service`'s `operation_id`, by name."""
        return sorted(
            s.name
            for s in self.services.values()
            if any((c.service, c.operation_id) == (service, operation_id) for c in s.calls)
        )

    def stream_of(self, subject: str) -> list[Stream]:
        """The streams whose subject filters capture `subject`."""
        return [s for s in self.streams if any(subject_matches(f, subject) for f in s.subjects)]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching with `*` and `>` wildcards."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)

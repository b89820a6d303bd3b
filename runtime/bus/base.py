"""Ports of the bus: what generated code declares and what backends implement.

Generated `events.py` modules describe channels and subscriptions with these types; a
backend (`runtime.bus.nats`, `runtime.bus.memory`) carries them. No driver is imported here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from runtime.errors import ConfigurationError

if TYPE_CHECKING:
    from runtime.upcasting import Upcasting

__all__ = [
    "BatchScope",
    "BoundSubscription",
    "Channel",
    "ConsumerPolicy",
    "EventSink",
    "MessageContext",
    "StreamSpec",
    "Subscription",
    "bind_handlers",
]

M = TypeVar("M", bound=BaseModel)
MessageKind = Literal["event", "command"]


@dataclass(frozen=True, slots=True)
class Channel(Generic[M]):
    """A subject with one message model, owned by the one service that sends on it."""

    subject: str
    message: str
    model: type[M]
    kind: MessageKind
    owner: str

    @property
    def ce_type(self) -> str:
        """CloudEvents type of the messages on this channel (`a4co.order.created.v1`)."""
        return f"a4co.{self.subject}"

    def read(self, data: bytes) -> M:
        """A received payload as its model, ignoring fields the model does not declare at any
        depth: readers tolerate what a newer producer adds (a nested class such as `Money`
        is shared with closed writers, so the class alone cannot say it)."""
        return self.model.model_validate_json(data, extra="ignore")


@dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    """Delivery policy of a durable consumer (from the operation's `x-consumer`)."""

    max_deliver: int = 5
    ack_wait: float = 30.0
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0)
    max_ack_pending: int = 1000
    concurrency: int = 16
    batch: int = 1
    """How many messages a worker may handle in one transaction (1: each its own). Only
    for handlers whose rows no two messages lock in differing orders (projections): a
    saga step that locks several rows would deadlock against another batch."""
    linger: float = 0.0
    """With `batch` > 1, the seconds between pulls: the consumer asks for what waits once
    per `linger` and handles what came together in one unit of work (a commit interval);
    0 keeps a pull request open and takes the messages as they come."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One receive operation: which channel, which stream, which durable, which handler."""

    channel: Channel[Any]
    stream: str
    durable: str
    handler: str
    operation: str
    policy: ConsumerPolicy = field(default_factory=ConsumerPolicy)
    upcasting: Upcasting | None = None
    """On an older version of the operation's channel: how its messages become the newest
    one, which is what the handler receives (a durable per version, one handler)."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A JetStream stream declared in `contracts/platform.yaml`."""

    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "interest", "workqueue"] = "limits"
    max_age: float = 0.0
    replicas: int = 1
    duplicate_window: float = 120.0
    storage: Literal["file", "memory"] = "file"


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Envelope of a received message: the CloudEvents headers and delivery facts."""

    id: str
    type: str
    source: str
    time: datetime
    subject: str
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    bus_subject: str = ""
    stream_sequence: int = 0
    attempt: int = 1


class EventSink(Protocol):
    """Where a generated `Publisher` sends: a bus backend or a transactional outbox."""

    async def send(
        self,
        channel: Channel[M],
        payload: M,
        *,
        aggregate_id: str,
        cause: MessageContext | None = None,
        message_id: str | None = None,
    ) -> str:
        """Send `payload` on `channel`; return the message id (`ce-id`)."""
        ...


Handler = Callable[[Any, MessageContext], Awaitable[None]]

BatchScope = Callable[
    ["Subscription", Sequence[MessageContext]], AbstractAsyncContextManager[object]
]
"""One unit of work (a database transaction) for several messages of one subscription.

The consumer runner opens it around their handlers, which join it instead of opening their
own; it commits when the block ends, and the runner acks the messages only after that.
"""


@dataclass(frozen=True, slots=True)
class BoundSubscription:
    """A subscription joined to the coroutine that handles it."""

    subscription: Subscription
    handle: Handler


def bind_handlers(
    service: str, handlers: object, subscriptions: tuple[Subscription, ...]
) -> tuple[BoundSubscription, ...]:
    """Join every subscription to its handler method; fail naming each one missing, or
    naming the subjects of an upcast whose owner has not written it."""
    for sub in subscriptions:
        if sub.upcasting is not None:
            for step in sub.upcasting.steps:
                step.resolve()
    missing = [s for s in subscriptions if not callable(getattr(handlers, s.handler, None))]
    if missing:
        names = ", ".join(f"{s.handler} ({s.operation})" for s in missing)
        raise ConfigurationError(
            f"the {service} service's handlers {type(handlers).__name__} lack: {names}"
        )
    return tuple(BoundSubscription(s, getattr(handlers, s.handler)) for s in subscriptions)

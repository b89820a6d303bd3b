"""The event bus: channels, subscriptions, envelopes, and their backends."""

from runtime.bus.base import (
    Channel,
    ConsumerPolicy,
    EventSink,
    MessageContext,
    StreamSpec,
    Subscription,
    bind_handlers,
)

__all__ = [
    "Channel",
    "ConsumerPolicy",
    "EventSink",
    "MessageContext",
    "StreamSpec",
    "Subscription",
    "bind_handlers",
]

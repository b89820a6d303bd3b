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
from runtime.bus.envelope import build_headers, parse_context
from runtime.bus.failures import PermanentError, PublishError, TransientError

__all__ = [
    "Channel",
    "ConsumerPolicy",
    "EventSink",
    "MessageContext",
    "PermanentError",
    "PublishError",
    "StreamSpec",
    "Subscription",
    "TransientError",
    "bind_handlers",
    "build_headers",
    "parse_context",
]

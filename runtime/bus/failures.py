"""How a handler or the bus says what went wrong, so the consumer knows what to do next.

PlatformError (runtime.errors)
 ├── TransientError   may pass on a later attempt: nak with backoff
 ├── PermanentError   will never pass: dead-letter at once
 └── PublishError     the bus did not store a message (no stream, timeout, refused)
"""

from __future__ import annotations

from runtime.errors import PlatformError

__all__ = ["PermanentError", "PublishError", "TransientError"]


class TransientError(PlatformError):
    """A failure that may pass (timeout, dependency down): redeliver after a backoff."""


class PermanentError(PlatformError):
    """A failure that will never pass (a business rule): send the message to the DLQ."""


class PublishError(PlatformError):
    """JetStream did not acknowledge a published message."""

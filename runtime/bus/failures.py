"""How a handler or the bus says what went wrong, so the consumer knows what to do next.

PlatformError (runtime.errors)
 ├── TransientError   may pass on a later attempt: nak with backoff
 ├── PermanentError   will never pass: dead-letter at once
 └── PublishError     the bus did not store a message (no stream, timeout, refused)

Some failures a handler did not raise on purpose are permanent too (`is_permanent`): a
`ValueError`, raised for a value no retry changes (pydantic's `ValidationError`, a driver
refusing to encode an argument, such as asyncpg's client-side `DataError` for an integer
beyond its column), and what the database refuses whatever the moment (SQLSTATE class 22,
data exception, and the not-null and check violations). The database's are read by their
standard SQLSTATE, so no driver is imported here.
"""

from __future__ import annotations

from pydantic import ValidationError

from runtime.errors import PlatformError

__all__ = [
    "PERMANENT_SQLSTATES",
    "PermanentError",
    "PublishError",
    "TransientError",
    "failure_reason",
    "is_permanent",
]

PERMANENT_SQLSTATES = ("22", "23502", "23514")
"""Data exception (numeric value out of range, invalid text representation, string data
right truncation, untranslatable character, ...), not-null violation, check violation.
A unique or foreign-key violation is left to retries: a concurrent writer or a message
still on its way may resolve it. Serialization failures and deadlocks (class 40) and lost
connections (class 08) are transient."""


class TransientError(PlatformError):
    """A failure that may pass (timeout, dependency down): redeliver after a backoff."""


class PermanentError(PlatformError):
    """A failure that will never pass (a business rule): send the message to the DLQ."""


class PublishError(PlatformError):
    """JetStream did not acknowledge a published message."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from (`raise ... from`), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__
    return chain


def is_permanent(exc: BaseException) -> bool:
    """Whether a handler failure fails again on every retry (so it is dead-lettered at once)."""
    for link in _chain(exc):
        if isinstance(link, TransientError):
            return False
        if isinstance(link, PermanentError | ValueError):  # ValidationError is a ValueError
            return True
        state = getattr(link, "sqlstate", None)
        if isinstance(state, str) and state.startswith(PERMANENT_SQLSTATES):
            return True
    return False


def failure_reason(exc: BaseException) -> str:
    """One line on why a message failed; a validation error names each field that failed."""
    if isinstance(exc, ValidationError):
        fields = "; ".join(
            f"{'.'.join(str(token) for token in error['loc']) or '(payload)'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        return f"ValidationError: {exc.title}: {fields}"
    state = getattr(exc, "sqlstate", None)
    code = f" (SQLSTATE {state})" if isinstance(state, str) else ""
    return f"{type(exc).__name__}{code}: {exc}"

"""Errors of the A4CO runtime.

PlatformError
 ├── ConfigurationError   a bad or missing setting; raised at start-up
 ├── InfraError           an embedded server would not start or stop
 ├── ConcurrencyError     an optimistic-concurrency conflict on an aggregate
 ├── ContractError        a message or request that breaks its contract
 └── ProblemError         a REST failure with an RFC 9457 problem body (runtime.http)
"""

from __future__ import annotations

__all__ = [
    "ConcurrencyError",
    "ConfigurationError",
    "ContractError",
    "InfraError",
    "PlatformError",
]


class PlatformError(Exception):
    """Base of every error the runtime raises."""


class ConfigurationError(PlatformError):
    """A setting is missing or wrong; the sentence names the bad value."""


class InfraError(PlatformError):
    """An embedded server failed to start, answer or stop."""


class ConcurrencyError(PlatformError):
    """An aggregate changed between load and save."""


class ContractError(PlatformError):
    """A message or request does not satisfy its contract."""

"""Restart the services of a running platform that end on their own, with backoff.

`Supervisor.step()` is called from the serve loop (so never during a stop): it notices a
process that ended, says so in one line, and starts it again on the same port once its
delay is over. The delay doubles with each quick failure up to a cap and is back to the
first one after the service stayed up for a while; after too many quick failures in a
row the service is left stopped, with a line that says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from a4co.launcher.errors import LaunchError
from a4co.launcher.process import describe_exit

if TYPE_CHECKING:
    from a4co.launcher.platform import Platform

__all__ = ["RestartPolicy", "Supervisor"]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How soon, how often and for how long the supervisor restarts a service."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0
    """Seconds up after which a service's next failure counts as the first again."""
    max_quick_failures: int = 5
    """Failures in a row, each within `stable_after` of its start, before giving up."""


@dataclass(slots=True)
class _Record:
    started_at: float
    restarts: int = 0
    quick_failures: int = 0
    due_at: float | None = None
    """When the pending restart happens; None while the process runs."""
    given_up: bool = False


class Supervisor:
    """Watch a started platform's services and restart those that end."""

    def __init__(
        self,
        platform: Platform,
        *,
        say: Callable[[str], None],
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._platform = platform
        self._say = say
        self._policy = policy or RestartPolicy()
        self._clock = clock
        now = clock()
        self._records = {name: _Record(started_at=now) for name in platform.modules}

    @property
    def given_up(self) -> list[str]:
        """The services left stopped after too many quick failures."""
        return [name for name, record in self._records.items() if record.given_up]

    def restarts(self, name: str) -> int:
        """How many times the service was started again."""
        return self._records[name].restarts

    def step(self) -> None:
        """Notice services that ended; restart those whose delay is over."""
        for name, code in self._platform.exited().items():
            record = self._records[name]
            if record.given_up:
                continue
            if record.due_at is None:
                self._schedule(name, code, record)
            elif self._clock() >= record.due_at:
                self._restart(name, record)

    def _schedule(self, name: str, code: int, record: _Record) -> None:
        policy, now = self._policy, self._clock()
        if now - record.started_at >= policy.stable_after:
            record.quick_failures = 0
        record.quick_failures += 1
        ended = f"the {name} service {describe_exit(code)} (code {code})"
        log = self._platform.log_path(name)
        if record.quick_failures > policy.max_quick_failures:
            record.given_up = True
            self._say(
                f"{ended}; giving up after {policy.max_quick_failures} restarts that each "
                f"failed within {policy.stable_after:g} s; log {log}"
            )
            return
        delay = min(policy.first_delay * 2 ** (record.quick_failures - 1), policy.max_delay)
        record.due_at = now + delay
        self._say(f"{ended}; restarting in {delay:g} s (restart {record.restarts + 1}); log {log}")

    def _restart(self, name: str, record: _Record) -> None:
        record.restarts += 1
        record.due_at = None
        record.started_at = self._clock()
        try:
            self._platform.start_service(name)
        except LaunchError as exc:  # it ended again, or never got ready: the next step says so
            self._say(f"restart {record.restarts} of the {name} service failed: {exc.summary}")
            return
        self._say(
            f"the {name} service is back (pid {self._platform.pid(name)}, "
            f"restart {record.restarts})"
        )

"""SIGINT, SIGTERM and SIGHUP as an exception, so that start-up and serving unwind and clean up."""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["STOP_SIGNALS", "StopRequestedError", "ignore_stop_signals", "raise_on_stop_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequestedError(BaseException):
    """A stop signal arrived; a BaseException so that `except Exception` lets it pass."""


def raise_on_stop_signals() -> None:
    """The first SIGINT, SIGTERM or SIGHUP (terminal closed) raises StopRequestedError;
    later ones are ignored."""

    def handle(signum: int, frame: FrameType | None) -> None:
        ignore_stop_signals()
        raise StopRequestedError

    for signum in STOP_SIGNALS:
        signal.signal(signum, handle)


def ignore_stop_signals() -> None:
    """Ignore the stop signals: a second Ctrl-C must not interrupt a stop half-way."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)

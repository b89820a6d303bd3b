"""The launcher's error: a service process that would not start, answer or be found."""

from __future__ import annotations

from runtime.errors import PlatformError

__all__ = ["LaunchError"]


class LaunchError(PlatformError):
    """A service did not become ready, exited early, or is not one of the platform's.

    `summary` is one sentence (naming the service and its log); `str()` adds the log's tail.
    """

    def __init__(self, summary: str, *, service: str | None = None, log_tail: str = "") -> None:
        super().__init__(f"{summary}\n{log_tail}" if log_tail else summary)
        self.summary = summary
        self.service = service

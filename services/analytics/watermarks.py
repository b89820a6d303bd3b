"""How far each analytics consumer has read (the dashboard's `as_of`), kept in memory.

A watermark only moves forward and only says how fresh the figures are, so it need not be
written with every message: handlers move it after their commit, the dashboard reads the
in-memory value, and a job stores the moved ones in one statement every second (and at
stop), so a restarted service starts from a stored, slightly older watermark.
"""

from __future__ import annotations

from datetime import datetime

from runtime.service import ServiceContext
from services.analytics.tables import AnalyticsTables

__all__ = ["Watermarks"]

_KEY = "analytics.watermarks"


class Watermarks:
    """The latest event time each consumer has committed, and which of them moved."""

    def __init__(self, tables: AnalyticsTables) -> None:
        self._tables = tables
        self._seen: dict[str, datetime] = {}
        self._moved: set[str] = set()

    @classmethod
    def of(cls, ctx: ServiceContext, tables: AnalyticsTables) -> Watermarks:
        """The service's one instance, kept in the context so handlers and API share it."""
        found = ctx.extras.get(_KEY)
        if not isinstance(found, Watermarks):
            found = ctx.extras[_KEY] = cls(tables)
        return found

    async def saw(self, consumer: str, at: datetime) -> None:
        """Move `consumer`'s watermark forward to `at` (never back)."""
        if consumer not in self._seen or self._seen[consumer] < at:
            self._seen[consumer] = at
            self._moved.add(consumer)

    def latest(self) -> datetime | None:
        """The newest watermark held in memory, if any."""
        return max(self._seen.values(), default=None)

    async def store(self, ctx: ServiceContext) -> None:
        """Write the watermarks that moved since the last store, in one statement."""
        if not self._moved:
            return
        moved, self._moved = self._moved, set()
        marks = {c: self._seen[c] for c in moved}
        try:
            async with ctx.transaction() as tx:
                await self._tables.store_watermarks(tx, marks)
        except BaseException:
            self._moved |= moved  # stored next time
            raise

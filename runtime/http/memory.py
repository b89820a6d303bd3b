"""A bounded memory of answers, each until its own moment (tokens, revoked sessions)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Remembered"]

K = TypeVar("K")
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """At most `limit` answers, the oldest forgotten first; each one until its `until`
    on `clock` (an answer whose moment has come is forgotten when next asked for)."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._answers: dict[K, tuple[V, float]] = {}

    def now(self) -> float:
        """The memory's clock."""
        return self._clock()

    def get(self, key: K) -> V | None:
        """The answer for `key`, if one is remembered and its moment has not come."""
        answer = self._answers.get(key)
        if answer is None:
            return None
        if answer[1] <= self._clock():
            del self._answers[key]
            return None
        return answer[0]

    def put(self, key: K, value: V, until: float) -> None:
        """Remember `value` for `key` until `until` (nothing when `limit` is 0)."""
        if self._limit <= 0:
            return
        self._answers.pop(key, None)
        if len(self._answers) >= self._limit:
            del self._answers[next(iter(self._answers))]
        self._answers[key] = (value, until)

    def forget_where(self, value: V) -> None:
        """Forget every answer that is `value` (the others stay, each until its moment)."""
        self._answers = {k: a for k, a in self._answers.items() if a[0] != value}

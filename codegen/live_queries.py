"""The PromQL the catalog's live page asks Prometheus, in one place (the page's script only
sends them): each reads a series the runtime exports (`runtime/observability.py`) or one
the generated rules record (`codegen/prometheus.py`).

Unit-tested with `promtool test rules` (`tests/contract/test_live_queries.py`) and read
through a real Prometheus by the browser test of the live page.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.prometheus import SLOW_RATIO

__all__ = ["LIVE_QUERIES", "OBJECTIVE_WINDOW", "REFRESH_SECONDS", "LiveQuery"]

REFRESH_SECONDS = 5
"""How often the page asks again: Prometheus scrapes every 5 s (`a4co.infra.prometheus`)."""
OBJECTIVE_WINDOW = "5m"
"""The window an objective's state is judged on: the shortest the alert rules record."""


@dataclass(frozen=True, slots=True)
class LiveQuery:
    """One figure of the live page: its name in the page's script, its PromQL, what it means."""

    name: str
    expr: str
    meaning: str


LIVE_QUERIES = (
    LiveQuery(
        "handled",
        "sum by (service, operation) (irate(a4co_handler_outcomes_total[30s]))",
        # irate: the last two scrapes (5 s apart), so the page shows the traffic of now,
        # exact from the first two samples; a rate() over a window not yet filled would
        # understate it for a whole window after a start.
        "messages handled per second by each receive operation, whatever the outcome",
    ),
    LiveQuery(
        "lag",
        "max by (service, durable) (a4co_consumer_pending)",
        # max, not sum: every replica of a service reports the same durable's pending count.
        "messages waiting for each durable consumer",
    ),
    LiveQuery(
        "sagas",
        "sum by (service, step) (a4co_sagas)",
        "sagas in each step",
    ),
    LiveQuery(
        "slow_ratio",
        SLOW_RATIO.format(window=OBJECTIVE_WINDOW),
        "each declared objective's share of calls slower than its latency, over 5 minutes",
    ),
)

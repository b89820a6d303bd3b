"""The demo's summary names what did not settle, and why, whatever stopped the run."""

from __future__ import annotations

import io
import re

from rich.console import Console

from a4co.cli.orders import NOT_PLACED, UNSETTLED, OrderRun, Outcome
from a4co.cli.report import print_summary


def summary(run: OrderRun, requested: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=140, highlight=False)
    print_summary(console, run, None, gateway="http://gw", requested=requested)
    return out.getvalue()


def test_the_summary_counts_placed_and_settled_and_names_the_unsettled() -> None:
    run = OrderRun(
        [
            Outcome("o-1", "confirmed", 0.4, False),
            Outcome("o-2", UNSETTLED, 60.0, False, error="GET /api/order/orders/o-2 answered 503"),
            Outcome("", NOT_PLACED, 0.0, True, error="POST /api/order/orders failed for 60 s"),
        ],
        seconds=61.0,
    )

    text = summary(run, requested=5)

    assert "the run ended early: 3 of 5 orders ran" in text
    assert re.search(r"│ placed\s+│\s+2/3 │", text), text
    assert re.search(r"│ settled\s+│\s+1/3 │", text), text
    assert "not settled (1): o-2" in text
    assert "last error: GET /api/order/orders/o-2 answered 503" in text
    assert "not placed (1); last error: POST /api/order/orders failed for 60 s" in text


def test_a_run_where_everything_settled_names_nothing() -> None:
    run = OrderRun([Outcome("o-1", "cancelled", 0.2, True)], seconds=1.0)

    text = summary(run, requested=1)

    assert "not settled" not in text
    assert "not placed" not in text
    assert "ended early" not in text

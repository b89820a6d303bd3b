"""The catalog's trace page: the saga of an order typed into it, as the tree `a4co trace`
prints (service, hop, offset from the trace's start, duration, nested).

A static page cannot read `<data_dir>/traces/spans.jsonl`, so `trace.js` asks
`../traces/api?order=<id>` of `a4co up`'s static server, which builds the tree with the
same code as `a4co trace` (`a4co.order_trace`). Opened from a file, it says so.
"""

from __future__ import annotations

from codegen.catalog_site.html import Site

__all__ = ["trace_page"]


def trace_page(site: Site) -> str:
    """The trace page: a form for the order id and the place its traces are drawn."""
    return site.page("Order trace", site.render("trace.html.j2"), depth=0, scripts=("trace.js",))

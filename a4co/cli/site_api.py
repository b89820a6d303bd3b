"""The two answers the static server gives the catalog's live pages beside its files.

- `/prometheus/api/v1/<query|alerts|rules|status/buildinfo>`: passed to the Prometheus
  `a4co up` runs, so the live page reads it from its own origin. A proxy rather than
  `--web.cors.origin`: the page needs no Prometheus URL (its port is picked at start), no
  other origin gets to read the metrics, and only these read-only endpoints go through.
  Without Prometheus the answer is a 503 in Prometheus's own error shape, saying why.
- `/traces/api?order=<id>`: the order's traces as JSON trees, built by `a4co.order_trace`
  as `a4co trace` prints them. No trace found is still a 200, with an empty list and a hint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from a4co.infra.prometheus import MISSING_PROMETHEUS
from a4co.order_trace import order_trace_trees

__all__ = [
    "PROMETHEUS_PREFIX",
    "TRACES_PATH",
    "Answer",
    "prometheus_answer",
    "trace_answer",
]

PROMETHEUS_PREFIX = "/prometheus/api/v1/"
TRACES_PATH = "/traces/api"
_READ_ONLY = frozenset({"query", "query_range", "alerts", "rules", "status/buildinfo"})
_JSON = "application/json"
_ORDER_MAX = 64
_NO_TRACE = (
    "no recorded trace names this order: traces are sampled (1 in 100 by default); "
    "start the platform with A4CO_TRACE_RATIO=1 to record every order"
)


@dataclass(frozen=True, slots=True)
class Answer:
    """What to send back: status, body and its content type."""

    status: int
    body: bytes
    content_type: str = _JSON


def _prometheus_error(status: HTTPStatus, error: str) -> Answer:
    body = {"status": "error", "errorType": "unavailable", "error": error}
    return Answer(status, json.dumps(body).encode())


def prometheus_answer(prometheus_url: str | None, path: str, query: str) -> Answer:
    """Prometheus's answer to a read-only API call, or an error saying why there is none."""
    endpoint = path.removeprefix(PROMETHEUS_PREFIX)
    if endpoint not in _READ_ONLY:
        return _prometheus_error(
            HTTPStatus.NOT_FOUND, f"only {', '.join(sorted(_READ_ONLY))} are passed to Prometheus"
        )
    if prometheus_url is None:
        return _prometheus_error(HTTPStatus.SERVICE_UNAVAILABLE, MISSING_PROMETHEUS)
    url = f"{prometheus_url}/api/v1/{endpoint}" + (f"?{query}" if query else "")
    try:
        response = httpx.get(url, timeout=10.0)
    except httpx.HTTPError as exc:
        return _prometheus_error(
            HTTPStatus.BAD_GATEWAY, f"Prometheus at {prometheus_url} did not answer: {exc}"
        )
    content_type = response.headers.get("content-type", _JSON)
    return Answer(response.status_code, response.content, content_type)


def _bad_order(error: str) -> Answer:
    return Answer(HTTPStatus.BAD_REQUEST, json.dumps({"error": error}).encode())


def trace_answer(trace_file: Path | None, query: str) -> Answer:
    """The order's traces as JSON trees; a 400 without an order id."""
    order = (parse_qs(query).get("order") or [""])[0].strip()
    if not order:
        return _bad_order("say which order: /traces/api?order=<order id>")
    if len(order) > _ORDER_MAX or not order.isprintable():
        return _bad_order(
            f"an order id is at most {_ORDER_MAX} printable characters, without control ones"
        )
    trees = order_trace_trees(trace_file, order) if trace_file is not None else []
    body: dict[str, object] = {
        "order": order,
        "traces": [tree.as_json() for tree in trees],
        "hint": "" if trees else _NO_TRACE,
    }
    return Answer(HTTPStatus.OK, json.dumps(body).encode())

"""The servers' own figures for Prometheus, beside the services' /metrics.

- **PostgreSQL**: Debian's `prometheus-postgres-exporter`, run against the platform database
  with the launcher's (admin) URL: `pg_up`, commits and rollbacks, rows, locks, connections.
- **NATS**: nats-server's monitoring port serves JSON (`/varz`, `/jsz`), which Prometheus
  cannot scrape, and no Debian or PyPI package carries `prometheus-nats-exporter`; so
  `NatsCollector` reads those two documents at each scrape and answers in Prometheus's text
  format (prometheus-client), served by `NatsExporter` on a loopback port of this process.

Both are optional: without a monitoring URL or the exporter binary the platform runs on and
`a4co up` says which figures are missing and why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from wsgiref.simple_server import WSGIServer

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from a4co.infra.base import ServerHandle
from a4co.infra.daemon import HttpDaemon
from a4co.infra.nats import EmbeddedNats
from a4co.infra.nats_cluster import EmbeddedNatsCluster
from a4co.infra.ports import LOOPBACK, free_port
from runtime.errors import InfraError

__all__ = [
    "MISSING_NATS_MONITOR",
    "MISSING_POSTGRES_EXPORTER",
    "NATS_MONITOR_URL_ENV",
    "NatsCollector",
    "NatsExporter",
    "PostgresExporter",
    "find_postgres_exporter",
    "nats_monitor_urls",
]

NATS_MONITOR_URL_ENV = "A4CO_NATS_MONITOR_URL"
MISSING_POSTGRES_EXPORTER = (
    "prometheus-postgres-exporter is not installed, so Prometheus has no PostgreSQL figures: "
    "run `sudo make install-prometheus` once"
)
MISSING_NATS_MONITOR = (
    f"the NATS server is external and {NATS_MONITOR_URL_ENV} is not set, so Prometheus has no "
    "NATS figures: set it to the server's monitoring URL (nats-server -m <port>)"
)
SCRAPE_TIMEOUT = 3.0


def find_postgres_exporter() -> str | None:
    """The `prometheus-postgres-exporter` binary on PATH, or None."""
    return shutil.which("prometheus-postgres-exporter")


def nats_monitor_urls(
    nats: ServerHandle | None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Target name -> monitoring URL of each NATS node: `nats`, or `nats-n1`... for a cluster.

    An embedded server has its monitoring port; an external one is reached through
    `A4CO_NATS_MONITOR_URL` (comma-separated for a cluster), else it has none.
    """
    if nats is None:
        return {}
    if isinstance(nats, EmbeddedNatsCluster):
        return {f"nats-n{index}": node.monitor_url for index, node in enumerate(nats.nodes, 1)}
    if isinstance(nats, EmbeddedNats):
        return {"nats": nats.monitor_url}
    raw = (os.environ if env is None else env).get(NATS_MONITOR_URL_ENV, "")
    urls = [url.strip().rstrip("/") for url in raw.split(",") if url.strip()]
    if len(urls) == 1:
        return {"nats": urls[0]}
    return {f"nats-n{index}": url for index, url in enumerate(urls, 1)}


class NatsCollector(Collector):
    """nats-server's `/varz` and `/jsz` as Prometheus metrics, read afresh at each scrape.

    `nats_up` is 0 (and nothing else is reported) when the monitoring port does not answer,
    so a stopped server is an alertable series rather than a failed scrape.
    """

    def __init__(self, monitor_url: str, timeout: float = SCRAPE_TIMEOUT) -> None:
        self._url = monitor_url.rstrip("/")
        self._timeout = timeout

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("nats_up", "1 when nats-server's monitoring port answered")
        try:
            with httpx.Client(timeout=self._timeout) as client:
                varz = client.get(f"{self._url}/varz").raise_for_status().json()
                jsz = (
                    client.get(f"{self._url}/jsz", params={"accounts": "true", "consumers": "true"})
                    .raise_for_status()
                    .json()
                )
        except (httpx.HTTPError, ValueError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _server_metrics(varz)
        yield from _jetstream_metrics(jsz)


def _server_metrics(varz: Mapping[str, Any]) -> Iterator[Metric]:
    counters = {
        "in_msgs": "messages received by the server",
        "out_msgs": "messages sent by the server",
        "in_bytes": "bytes received by the server",
        "out_bytes": "bytes sent by the server",
        "slow_consumers": "clients dropped as slow consumers",
        "total_connections": "client connections accepted since the server started",
    }
    for key, text in counters.items():
        yield CounterMetricFamily(f"nats_{key}", text, value=_number(varz.get(key)))
    gauges = {
        "connections": ("nats_connections", "client connections open now"),
        "subscriptions": ("nats_subscriptions", "subscriptions held now"),
        "mem": ("nats_memory_bytes", "resident memory of nats-server"),
        "cpu": ("nats_cpu_percent", "CPU use of nats-server, in percent of one core"),
    }
    for key, (name, text) in gauges.items():
        yield GaugeMetricFamily(name, text, value=_number(varz.get(key)))


def _jetstream_metrics(jsz: Mapping[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "nats_jetstream_storage_bytes",
        "JetStream file storage in use",
        value=_number(jsz.get("storage")),
    )
    api = jsz.get("api") or {}
    yield CounterMetricFamily(
        "nats_jetstream_api_errors",
        "JetStream API requests answered with an error",
        value=_number(api.get("errors")),
    )
    streams = {
        "messages": GaugeMetricFamily(
            "nats_stream_messages", "messages in the stream", labels=["stream"]
        ),
        "bytes": GaugeMetricFamily("nats_stream_bytes", "bytes in the stream", labels=["stream"]),
        "last_seq": GaugeMetricFamily(
            "nats_stream_last_sequence", "the stream's last sequence", labels=["stream"]
        ),
    }
    labels = ["stream", "consumer"]
    consumers = {
        "num_pending": GaugeMetricFamily(
            "nats_consumer_pending", "messages not yet delivered to the consumer", labels=labels
        ),
        "num_ack_pending": GaugeMetricFamily(
            "nats_consumer_ack_pending",
            "messages delivered and not yet acknowledged",
            labels=labels,
        ),
        "num_redelivered": GaugeMetricFamily(
            "nats_consumer_redelivered",
            "messages delivered more than once, not yet acknowledged",
            labels=labels,
        ),
        "num_waiting": GaugeMetricFamily(
            "nats_consumer_waiting", "pull requests waiting for messages", labels=labels
        ),
    }
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            name = str(stream.get("name", ""))
            state = stream.get("state") or {}
            for key, family in streams.items():
                family.add_metric([name], _number(state.get(key)))
            for consumer in stream.get("consumer_detail") or []:
                pair = [name, str(consumer.get("name", ""))]
                for key, family in consumers.items():
                    family.add_metric(pair, _number(consumer.get(key)))
    yield from streams.values()
    yield from consumers.values()


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class NatsExporter:
    """A `NatsCollector` served over HTTP on a free loopback port of this process."""

    def __init__(self, monitor_url: str) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(NatsCollector(monitor_url))
        self._server: WSGIServer | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """The base URL; Prometheus scrapes its `/metrics`."""
        if self._server is None:
            raise InfraError("the NATS exporter has not been started")
        return f"http://{LOOPBACK}:{self._port}"

    def start(self) -> None:
        """Serve /metrics in a daemon thread."""
        self._port = free_port()
        self._server, _ = start_http_server(self._port, addr=LOOPBACK, registry=self._registry)

    def stop(self) -> None:
        """Stop serving; a second call does nothing."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


class PostgresExporter(HttpDaemon):
    """Debian's prometheus-postgres-exporter against one database, on a free loopback port."""

    label = "prometheus-postgres-exporter"
    log_name = "postgres-exporter.log"
    ready_path = "/metrics"

    def __init__(self, binary: str, data_dir: Path, database_url: str) -> None:
        # the URL (with its password) reaches the exporter through its environment only
        super().__init__(binary, data_dir, {**os.environ, "DATA_SOURCE_NAME": _dsn(database_url)})

    def command(self) -> list[str]:
        """Listen on our port; skip pg_settings (hundreds of series nobody alerts on)."""
        return [
            self._binary,
            f"--web.listen-address={self.address}",
            "--disable-settings-metrics",
            "--log.level=warn",
        ]


def _dsn(url: str) -> str:
    """The URL as lib/pq reads it: `postgres://`, and without TLS unless the URL asks for it."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "disable")
    return urlunsplit(parts._replace(scheme="postgres", query=urlencode(query)))

"""The servers' figures Prometheus scrapes beside the services: nats-server's monitoring JSON
as Prometheus metrics (our collector) and Debian's prometheus-postgres-exporter, each
against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from a4co.infra.base import ExternalServer, ServerHandle
from a4co.infra.exporters import (
    NATS_MONITOR_URL_ENV,
    NatsExporter,
    PostgresExporter,
    find_postgres_exporter,
    nats_monitor_urls,
)
from a4co.infra.nats import EmbeddedNats

STREAM = "EXPORTED"


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=30).raise_for_status().text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of this test's own: the session's may be external, without monitoring."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


async def _three_published_one_acked(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["exported.>"])
        for index in range(3):
            await js.publish("exported.thing", str(index).encode())
        pull = await js.pull_subscribe("exported.thing", durable="reader_on_thing", stream=STREAM)
        (first,) = await pull.fetch(1, timeout=10)
        await first.ack_sync()
    finally:
        await nc.close()


def test_nats_figures_name_each_stream_and_consumer(own_nats: EmbeddedNats) -> None:
    asyncio.run(_three_published_one_acked(own_nats.url))
    exporter = NatsExporter(own_nats.monitor_url)
    exporter.start()
    try:
        samples = _samples(exporter.url)
    finally:
        exporter.stop()
    consumer = (("consumer", "reader_on_thing"), ("stream", STREAM))
    assert samples[("nats_up", ())] == 1
    assert samples[("nats_stream_messages", (("stream", STREAM),))] == 3
    assert samples[("nats_consumer_pending", consumer)] == 2
    assert samples[("nats_consumer_ack_pending", consumer)] == 0
    assert samples[("nats_in_msgs_total", ())] >= 3


def test_a_stopped_nats_server_is_nats_up_zero_not_a_failed_scrape(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    exporter = NatsExporter(server.monitor_url)
    exporter.start()
    try:
        assert _samples(exporter.url)[("nats_up", ())] == 1
        server.stop()
        assert _samples(exporter.url) == {("nats_up", ()): 0}
    finally:
        exporter.stop()
        server.stop()


def test_a_monitor_url_answering_something_else_is_nats_up_zero(own_nats: EmbeddedNats) -> None:
    # an exporter pointed at another exporter: text where JSON is expected
    inner = NatsExporter(own_nats.monitor_url)
    inner.start()
    outer = NatsExporter(inner.url)
    outer.start()
    try:
        assert _samples(outer.url) == {("nats_up", ()): 0}
    finally:
        outer.stop()
        inner.stop()


def test_postgres_figures_come_from_debians_exporter(
    postgres_server: ServerHandle, tmp_path: Path
) -> None:
    binary = find_postgres_exporter()
    assert binary, "prometheus-postgres-exporter is missing: run `sudo make install-prometheus`"
    exporter = PostgresExporter(binary, tmp_path / "exporter", postgres_server.url)
    exporter.start()
    try:
        samples = _samples(exporter.url)
    finally:
        exporter.stop()
    assert samples[("pg_up", ())] == 1
    commits = {
        dict(labels).get("datname"): value
        for (name, labels), value in samples.items()
        if name == "pg_stat_database_xact_commit_total"  # the parser names counters *_total
    }
    database = urlsplit(postgres_server.url).path.lstrip("/")
    assert commits.get(database, 0) > 0, sorted(commits)


def test_an_external_nats_has_figures_only_through_its_monitoring_url() -> None:
    external = ExternalServer(name="nats", url="nats://10.0.0.5:4222", env_var="A4CO_NATS_URL")
    assert nats_monitor_urls(external, env={}) == {}
    one = {NATS_MONITOR_URL_ENV: "http://10.0.0.5:8222/"}
    assert nats_monitor_urls(external, env=one) == {"nats": "http://10.0.0.5:8222"}
    three = {NATS_MONITOR_URL_ENV: "http://a:8222, http://b:8222,http://c:8222"}
    assert nats_monitor_urls(external, env=three) == {
        "nats-n1": "http://a:8222",
        "nats-n2": "http://b:8222",
        "nats-n3": "http://c:8222",
    }
    assert nats_monitor_urls(None) == {}

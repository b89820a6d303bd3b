"""`a4co contracts status` against a real nats-server with JetStream: a durable that still
has v1 messages to handle keeps v1; once it has handled them, v1 can be removed, although
the same durable still has v2 messages to handle."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from a4co.cli import main
from a4co.cli.contracts import load_contracts

VERSIONS = Path(__file__).resolve().parents[1] / "contract" / "versions"
V1, V2 = "shop.order_placed.v1", "shop.order_placed.v2"
DEADLINE = 30.0


@pytest.fixture
def contracts(tmp_path: Path, unique_id: str) -> Path:
    """The fixture in which mailer receives v2 only, with a stream of this test's own."""
    folder = tmp_path / "contracts"
    shutil.copytree(VERSIONS / "moved", folder)
    platform = folder / "platform.yaml"
    text = platform.read_text(encoding="utf-8")
    platform.write_text(
        text.replace("name: SHOP,", f"name: SHOP_{unique_id},").replace(
            "'shop.>'", f"'shop.order_placed.*', 'shop.{unique_id}'"
        ),
        encoding="utf-8",
    )
    return folder


def report(
    contracts: Path,
    tmp_path: Path,
    nats_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, object]:
    """`a4co contracts status --json` with the session's NATS as the platform's."""
    monkeypatch.setenv("A4CO_NATS_URL", nats_url)
    args = ["contracts", "status", "--json", "--data-dir", str(tmp_path / "data")]
    assert main([*args, "--contracts", str(contracts)]) == 0
    parsed: dict[str, object] = json.loads(capsys.readouterr().out)
    return parsed


def verdict(parsed: dict[str, object]) -> dict[str, object]:
    (message,) = parsed["messages"]  # type: ignore[misc]
    (first,) = message["verdicts"]
    return first  # type: ignore[no-any-return]


def readers(parsed: dict[str, Any], index: int) -> list[tuple[str, bool, int]]:
    """(service, declared, pending) of each reader of the message's version `index`."""
    (message,) = parsed["messages"]
    version = message["versions"][index]
    return [(r["service"], r["declared"], r["pending"]) for r in version["readers"]]


async def publish_and_subscribe(nats_url: str, stream: str, durable: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[V1.replace("v1", "*")])
        for subject in (V1, V1, V1, V2, V2):
            await js.publish(subject, b"{}")
        config = ConsumerConfig(
            durable_name=durable, filter_subjects=[V1, V2], ack_policy=AckPolicy.EXPLICIT
        )
        await js.add_consumer(stream, config)
    finally:
        await nc.close()


async def handle_the_v1_messages(nats_url: str, stream: str, durable: str) -> None:
    """Fetch and ack the first three messages (the v1 ones), then wait until the broker
    counts them handled: nothing awaiting an ack, the two v2 messages still pending."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe_bind(durable, stream)
        handled = 0
        while handled < 3:
            for message in await subscription.fetch(3 - handled, timeout=10):
                assert message.subject == V1
                await message.ack_sync()
                handled += 1
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            info = await js.consumer_info(stream, durable)
            if (info.num_pending, info.num_ack_pending) == (2, 0):
                return
            await asyncio.sleep(0.1)
        pytest.fail(f"{durable} did not settle at 2 pending within {DEADLINE:g} s")
    finally:
        await nc.close()


async def delete_stream(nats_url: str, stream: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def test_v1_is_still_read_while_a_durable_has_v1_messages_and_removable_once_handled(
    contracts: Path,
    tmp_path: Path,
    nats_url: str,
    unique_id: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = f"SHOP_{unique_id}"
    (receive,) = load_contracts(contracts).services["mailer"].receives
    assert receive.durable is not None
    asyncio.run(publish_and_subscribe(nats_url, stream, receive.durable))
    try:
        busy = report(contracts, tmp_path, nats_url, monkeypatch, capsys)
        asyncio.run(handle_the_v1_messages(nats_url, stream, receive.durable))
        drained = report(contracts, tmp_path, nats_url, monkeypatch, capsys)
    finally:
        asyncio.run(delete_stream(nats_url, stream))

    assert busy["live"]["available"] is True  # type: ignore[index]
    assert verdict(busy) == {
        "subject": V1,
        "removable": False,
        "text": "still read by mailer (3 pending)",
    }
    assert readers(busy, 1) == [("mailer", True, 2)]
    assert verdict(drained) == {"subject": V1, "removable": True, "text": "v1 can be removed"}
    assert readers(drained, 1) == [("mailer", True, 2)]

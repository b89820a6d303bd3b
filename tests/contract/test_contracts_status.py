"""`a4co contracts status` on fixture contracts: the versions of each message, who sends and
reads each, and the verdict on each old version, with and without live pending counts."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest

from a4co.cli import main
from a4co.cli.contracts import load_contracts
from codegen.migration import LiveConsumer, VersionedMessage, versioned_messages
from tests.contract.conftest import CONTRACTS

VERSIONS = Path(__file__).resolve().parent / "versions"
V1, V2 = "shop.order_placed.v1", "shop.order_placed.v2"


def status(step: str, live: list[LiveConsumer] | None) -> VersionedMessage:
    (message,) = versioned_messages(load_contracts(VERSIONS / step), live)
    return message


def mailer_durable(step: str) -> str:
    catalog = load_contracts(VERSIONS / step)
    (op,) = catalog.services["mailer"].receives
    assert op.durable is not None
    return op.durable


def test_versions_are_listed_oldest_first_with_their_producers_and_readers() -> None:
    message = status("v2_beside", [LiveConsumer("SHOP", mailer_durable("v2_beside"), (V1,), 12)])
    v1, v2 = message.versions
    assert (message.base, v1.subject, v2.subject) == ("shop.order_placed", V1, V2)
    assert (v1.state, str(v1.sunset), v1.replaced_by) == ("deprecated", "2027-03-01", V2)
    assert (v2.state, v2.replaces) == ("current", V1)
    assert v1.producers == v2.producers == ("shop",)
    assert [str(r) for r in v1.readers] == ["mailer (12 pending)"]
    assert v2.readers == ()


def test_an_old_version_its_contract_receives_is_still_read_even_when_drained() -> None:
    (verdict,) = status(
        "v2_beside", [LiveConsumer("SHOP", mailer_durable("v2_beside"), (V1,), 0)]
    ).verdicts
    assert not verdict.removable
    assert verdict.text == "still read by mailer (0 pending): its contract receives v1"


def test_a_durable_that_still_reads_v1_through_v2_keeps_it_until_drained() -> None:
    durable = mailer_durable("moved")
    busy = status("moved", [LiveConsumer("SHOP", durable, (V1, V2), 7)])
    drained = status("moved", [LiveConsumer("SHOP", durable, (V1, V2), 0)])
    assert (busy.verdicts[0].removable, busy.verdicts[0].text) == (
        False,
        "still read by mailer (7 pending)",
    )
    assert (drained.verdicts[0].removable, drained.verdicts[0].text) == (True, "v1 can be removed")


def test_a_durable_is_named_by_its_service_even_when_no_operation_names_it() -> None:
    (verdict,) = status(
        "moved", [LiveConsumer("SHOP", "mailer_on_order_placed_v1", (V1,), 4)]
    ).verdicts
    assert verdict.text == "still read by mailer (4 pending)"


def test_the_durables_are_those_the_generated_subscriptions_use() -> None:
    # The live part looks durables up by the catalog's names; the services consume with the
    # generated SUBSCRIPTIONS. They must be the same names.
    catalog = load_contracts(CONTRACTS)
    for service in catalog.services.values():
        if not service.receives:
            continue
        events = importlib.import_module(f"generated.{service.name}.events")
        generated = {(s.operation, s.durable) for s in events.SUBSCRIPTIONS}
        assert {(op.key, op.durable) for op in service.receives} <= generated, service.name


def test_a_durable_reading_both_versions_counts_v1_apart() -> None:
    both = LiveConsumer("SHOP", mailer_durable("moved"), (V1, V2), 5, ((V1, 0), (V2, 5)))
    message = status("moved", [both])
    assert [str(r) for r in message.versions[1].readers] == ["mailer (5 pending)"]
    assert message.verdicts[0].text == "v1 can be removed"


def test_a_durable_of_another_subject_does_not_read_v1() -> None:
    (verdict,) = status(
        "moved", [LiveConsumer("SHOP", "ledger", ("shop.order_paid.v1",), 9)]
    ).verdicts
    assert verdict.removable


def test_without_the_live_part_the_verdict_says_so() -> None:
    (verdict,) = status("moved", None).verdicts
    assert verdict.removable
    assert "live pending counts are unavailable" in verdict.text
    assert [str(r) for r in status("v2_beside", None).versions[0].readers] == ["mailer (? pending)"]


def test_a_retired_version_that_a_channel_still_replaces_is_listed() -> None:
    message = status("retired", [])
    assert [(v.subject, v.state) for v in message.versions] == [(V1, "retired"), (V2, "current")]
    assert message.verdicts[0].text == "v1 is retired"


def test_a_message_with_one_version_is_not_listed() -> None:
    assert versioned_messages(load_contracts(VERSIONS / "v1"), []) == []


def test_the_command_prints_json_and_says_the_live_part_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("A4CO_NATS_URL", raising=False)
    monkeypatch.delenv("A4CO_DATABASE_URL", raising=False)
    args = ["contracts", "status", "--data-dir", str(tmp_path), "--contracts"]
    assert main([*args, str(VERSIONS / "v2_beside"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["live"]["available"] is False
    assert "no A4CO platform is running" in report["live"]["note"]
    (message,) = report["messages"]
    assert [v["subject"] for v in message["versions"]] == [V1, V2]
    assert (
        message["verdicts"][0]["text"]
        == "still read by mailer (? pending): its contract receives v1"
    )

    assert main([*args, str(VERSIONS / "v2_beside")]) == 0
    text = capsys.readouterr().out
    assert "deprecated, sunset 2027-03-01" in text
    assert f"{V1}: still read by mailer" in text
    assert "live part unavailable" in text


def test_the_real_contracts_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("A4CO_NATS_URL", raising=False)
    monkeypatch.delenv("A4CO_DATABASE_URL", raising=False)
    args = ["contracts", "status", "--data-dir", str(tmp_path), "--contracts", str(CONTRACTS)]
    assert main(args) == 0
    versioned = versioned_messages(load_contracts(CONTRACTS))
    said = "live part unavailable" if versioned else "no versioned message"
    assert said in capsys.readouterr().out


def test_a_stored_only_version_is_listed_as_kept_for_the_store_and_not_removable() -> None:
    # The owner is event-sourced: its v1 left the bus and stays declared for the upcast.
    message = status("stored", [LiveConsumer("SHOP", mailer_durable("stored"), (V2,), 0)])
    v1, v2 = message.versions
    assert [(v.subject, v.state) for v in (v1, v2)] == [(V1, "stored only"), (V2, "current")]
    assert (v1.producers, v1.readers, v1.sunset) == ((), (), None)
    (verdict,) = message.verdicts
    assert not verdict.removable
    assert verdict.text == "v1 is retired from the bus; stored events are upcast on load"


def test_an_unread_old_version_of_an_event_sourced_owner_is_kept_as_stored_only(
    tmp_path: Path,
) -> None:
    contracts = tmp_path / "moved"
    shutil.copytree(VERSIONS / "moved", contracts)
    platform = contracts / "platform.yaml"
    platform.write_text(
        platform.read_text().replace("version: 1\n", "version: 1\nevent_sourced: [shop]\n")
    )
    (message,) = versioned_messages(load_contracts(contracts), [])
    (verdict,) = message.verdicts
    assert not verdict.removable
    assert "mark it x-stored-only" in verdict.text


def test_the_command_prints_the_stored_only_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("A4CO_NATS_URL", raising=False)
    monkeypatch.delenv("A4CO_DATABASE_URL", raising=False)
    args = ["contracts", "status", "--data-dir", str(tmp_path), "--contracts"]
    assert main([*args, str(VERSIONS / "stored")]) == 0
    text = capsys.readouterr().out
    assert "stored only" in text
    assert f"{V1}: v1 is retired from the bus; stored events are upcast on load" in text

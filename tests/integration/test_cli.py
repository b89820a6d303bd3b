"""The `a4co` command on a real platform: `a4co up` (a subprocess) runs the saga's services,
the auth service and the gateway on embedded servers of its own; `status` and `dlq` look
inside it, and its static server answers the storefront's config.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from a4co.cli import main
from a4co.cli.state import PlatformState, find_state, state_path
from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import NewProductListed
from runtime.bus.dlq import dead_letter
from runtime.bus.nats_publisher import NatsEventSink
from tests.contract.test_breaking_real import add_next_version

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["auth", "gateway", "user", "inventory", "payment", "order"]
START_TIMEOUT = 180.0
EMBEDDED = {"A4CO_NATS_URL": "", "A4CO_DATABASE_URL": "", "A4CO_REDIS_URL": ""}


@pytest.fixture(scope="module")
def platform() -> Iterator[PlatformState]:
    """`a4co up` with six services, until its state file appears; SIGTERM at the end."""
    with tempfile.TemporaryDirectory(prefix="a4co-cli-") as folder:
        data_dir = Path(folder) / "data"
        log = (Path(folder) / "up.log").open("w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "a4co.cli", "up", "--data-dir", str(data_dir), *SERVICES],
            cwd=ROOT,
            env={**os.environ, **EMBEDDED},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield _wait_for_state(process, data_dir, log)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
            log.seek(0)
            output = log.read()
            log.close()
        assert code == 0, output
        assert "stopped 6 services" in output
        assert not state_path(data_dir).exists()


def _wait_for_state(process: subprocess.Popen[bytes], data_dir: Path, log: object) -> PlatformState:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"a4co up exited with {process.returncode}: {_read(log)}")
        if state_path(data_dir).exists():
            return find_state(data_dir)
        time.sleep(0.2)
    pytest.fail(f"a4co up wrote no state file within {START_TIMEOUT:g} s: {_read(log)}")


def _read(log: object) -> str:
    assert hasattr(log, "seek") and hasattr(log, "read")
    log.seek(0)
    return str(log.read())[-4000:]


def a4co(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run an `a4co` command in this process; its exit code and what it printed."""
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_up_writes_the_state_file_and_serves_the_storefront_config(
    platform: PlatformState,
) -> None:
    assert set(platform.services) == set(SERVICES)
    assert platform.admin_email == "admin@a4co.dev"
    assert platform.nats_url and platform.database_url
    config = httpx.get(platform.static["storefront"] + "config.json", timeout=10)
    assert config.json() == {"gateway": platform.gateway}
    outside = httpx.get(platform.static["catalog"] + "../../pyproject.toml", timeout=10)
    assert outside.status_code == 404
    ready = httpx.get(f"{platform.gateway}/readyz", timeout=10)
    assert ready.status_code == 200


def test_status_shows_lag_outbox_and_an_order_saga(
    platform: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    order = asyncio.run(_confirmed_order(platform))

    code, out = a4co(capsys, "status", "--data-dir", platform.data_dir)

    assert code == 0, out
    assert "Consumer lag" in out and "order_on_payment_succeeded" in out
    assert "Outbox backlog" in out and "inventory" in out
    assert "Sagas by step" in out
    saga_rows = [line for line in out.splitlines() if " order " in f" {line} " and "done" in line]
    assert saga_rows, f"no order saga in done after order {order}:\n{out}"


def test_dlq_lists_a_dead_letter_and_redrives_it(
    platform: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    service = f"cli{uuid.uuid4().hex[:8]}"
    asyncio.run(_dead_letter(platform, service))

    code, out = a4co(capsys, "dlq", "list", "--service", service, "--data-dir", platform.data_dir)

    assert code == 0, out
    assert "1 dead letter" in out and "order.cli_probe.v1" in out and "boom" in out
    sequence = next(line.split()[1] for line in out.splitlines() if "order.cli_probe.v1" in line)
    code, out = a4co(capsys, "dlq", "redrive", sequence, "--data-dir", platform.data_dir)
    assert code == 0, out
    assert f"redrove dead letter #{sequence} to order.cli_probe.v1" in out
    code, out = a4co(capsys, "dlq", "list", "--service", service, "--data-dir", platform.data_dir)
    assert "no dead letters" in out


def test_contracts_status_reads_the_running_platforms_durables(
    platform: PlatformState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real contracts with SessionRevoked v3 beside v2: the gateway still receives v2,
    # through the durable the running gateway consumes with; v1 is retired.
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    add_next_version(tmp_path)
    folder = str(tmp_path / "contracts")

    code, out = a4co(
        capsys,
        "contracts",
        "status",
        "--json",
        "--contracts",
        folder,
        "--data-dir",
        platform.data_dir,
    )

    assert code == 0, out
    report = json.loads(out)
    assert report["live"]["available"] is True, report["live"]
    (message,) = report["messages"]
    v1, v2, v3 = message["versions"]
    assert v1["state"] == "retired"
    assert (v1["producers"], v1["readers"]) == ([], [])
    assert (v2["producers"], v3["producers"]) == (["auth"], ["auth"])
    (reader,) = v2["readers"]
    assert (reader["service"], reader["durable"]) == ("gateway", "gateway_on_session_revoked_v2")
    assert isinstance(reader["pending"], int)
    assert v3["readers"] == []
    texts = [verdict["text"] for verdict in message["verdicts"]]
    assert any(text.startswith("still read by gateway (") for text in texts), texts


def test_contracts_prune_deletes_only_the_idle_durables_no_contract_declares(
    platform: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    idle, busy = f"gone_{tag}", f"gone_busy_{tag}"
    asyncio.run(_leftover_durables(platform, idle, busy, f"order.cli_gone_{tag}.v1"))
    data = ["--data-dir", platform.data_dir]

    code, status = a4co(capsys, "contracts", "status", "--json", *data)
    listed = {d["durable"]: d for d in json.loads(status)["undeclared_durables"]}
    code_list, listing = a4co(capsys, "contracts", "prune", *data)
    after_list = asyncio.run(_durables(platform))
    code_yes, pruned = a4co(capsys, "contracts", "prune", "--yes", *data)
    after_yes = asyncio.run(_durables(platform))
    code_force, forced = a4co(capsys, "contracts", "prune", "--yes", "--force", *data)
    after_force = asyncio.run(_durables(platform))

    assert code == 0, status
    assert (listed[idle]["pending"], listed[busy]["pending"]) == (0, 1)
    assert not any(name.startswith(("order_", "gateway_")) for name in listed), listed
    assert code_list == 0 and "nothing deleted" in listing
    assert {idle, busy} <= after_list
    assert code_yes == 1, pruned
    assert f"deleted ORDER/{idle}" in pruned
    assert f"kept ORDER/{busy}: 1 message(s) pending" in pruned
    assert after_yes == after_list - {idle}  # the declared durables stay
    assert any(name.startswith("user_on_") for name in after_yes), after_yes
    assert code_force == 0, forced
    assert after_force == after_yes - {busy}


async def _leftover_durables(platform: PlatformState, idle: str, busy: str, subject: str) -> None:
    """Two durables no contract declares on ORDER: one drained, one with a message left."""
    assert platform.nats_url
    nc = await nats.connect(platform.nats_url)
    try:
        js = nc.jetstream()
        await js.publish(subject, b"{}")
        for name, start in ((idle, DeliverPolicy.NEW), (busy, DeliverPolicy.ALL)):
            config = ConsumerConfig(durable_name=name, filter_subject=subject, deliver_policy=start)
            await js.add_consumer("ORDER", config)
    finally:
        await nc.close()


async def _durables(platform: PlatformState) -> set[str]:
    assert platform.nats_url
    nc = await nats.connect(platform.nats_url)
    try:
        infos = await nc.jetstream().consumers_info("ORDER")
        return {info.config.durable_name or "" for info in infos}
    finally:
        await nc.close()


def test_commands_without_a_platform_say_to_run_up_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("A4CO_NATS_URL", "A4CO_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    for command in (["demo", "-n", "1"], ["status"], ["dlq", "list"]):
        code, out = a4co(capsys, *command, "--data-dir", str(tmp_path))
        assert code == 1
        assert "run `a4co up` (or `make run`) first" in out


async def _confirmed_order(platform: PlatformState) -> str:
    """A customer registered and logged in through the gateway orders a product; confirmed."""
    assert platform.gateway and platform.nats_url
    async with httpx.AsyncClient(base_url=f"{platform.gateway}/api", timeout=10) as http:
        email = f"cli-{uuid.uuid4().hex[:8]}@example.es"
        body = {"email": email, "full_name": "Cli", "role": "customer", "province": "jaen"}
        registered = await http.post("/user/users", json={**body, "password": "cli-password"})
        assert registered.status_code == 201, registered.text
        customer = registered.json()["user_id"]
        token = await _login(http, email)
        product = await _listed_product(platform.nats_url)
        headers = {"Authorization": f"Bearer {token}"}
        order = {
            "customer_id": customer,
            "items": [{"product_id": product, "quantity": 1}],
            "delivery": {"method": "pickup"},
            "card_token": "tok_visa_ok",
        }
        for _ in range(100):  # the order service learns of the product from the bus
            placed = await http.post("/order/orders", json=order, headers=headers)
            if placed.status_code != 422:
                break
            await asyncio.sleep(0.2)
        assert placed.status_code == 201, placed.text
        order_id = str(placed.json()["order_id"])
        for _ in range(300):
            status = (await http.get(f"/order/orders/{order_id}", headers=headers)).json()
            if status["status"] == "confirmed":
                return order_id
            await asyncio.sleep(0.1)
    pytest.fail(f"order {order_id} was not confirmed: {status}")


async def _login(http: httpx.AsyncClient, email: str) -> str:
    body = {"grant_type": "password", "username": email, "password": "cli-password"}
    for _ in range(100):  # auth makes the login from the user's events
        answer = await http.post("/auth/token", json=body)
        if answer.status_code == 200:
            return str(answer.json()["access_token"])
        await asyncio.sleep(0.1)
    pytest.fail(f"no login for {email}: {answer.text}")


async def _listed_product(nats_url: str) -> str:
    product_id = uuid.uuid4()
    nc = await nats.connect(nats_url)
    try:
        await ArtisanPublisher(NatsEventSink(nc)).new_product_listed(
            NewProductListed.model_validate(
                {
                    "product_id": product_id,
                    "artisan_id": uuid.uuid4(),
                    "name": "Aceite picual 500 ml",
                    "description": "Virgen extra de Jaén.",
                    "category": "olive_oil",
                    "price": {"amount_minor": 1250, "currency": "EUR"},
                    "initial_stock": 10,
                    "stock_threshold": 0,
                    "province": "jaen",
                    "listed_at": datetime.now(UTC),
                }
            ),
            aggregate_id=str(product_id),
        )
    finally:
        await nc.close()
    return str(product_id)


async def _dead_letter(platform: PlatformState, service: str) -> None:
    assert platform.nats_url
    nc = await nats.connect(platform.nats_url)
    try:
        await dead_letter(
            nc.jetstream(),
            service=service,
            durable=f"{service}_on_probe",
            stream="ORDER",
            message=("order.cli_probe.v1", 1, json.dumps({"probe": 1}).encode(), {}),
            error="boom: the handler failed",
            attempts=5,
        )
    finally:
        await nc.close()


def test_up_runs_prometheus_on_every_service_with_the_generated_rules(
    platform: PlatformState,
) -> None:
    assert platform.prometheus, "prometheus is installed (make install-prometheus), so up runs it"
    api = f"{platform.prometheus}/api/v1"

    def targets_up() -> set[str]:
        active = httpx.get(f"{api}/targets", timeout=10).json()["data"]["activeTargets"]
        return {t["labels"]["process"] for t in active if t["health"] == "up"}

    def lag_series() -> set[str]:
        query = {"query": 'a4co_consumer_pending{service="order"}'}
        found = httpx.get(f"{api}/query", params=query, timeout=10).json()["data"]["result"]
        return {r["metric"]["durable"] for r in found}

    def value(query: str) -> float | None:
        found = httpx.get(f"{api}/query", params={"query": query}, timeout=10).json()
        results = found["data"]["result"]
        return float(results[0]["value"][1]) if results else None

    expected = {*SERVICES, "nats", "postgres"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (targets_up() == expected and lag_series()):
        time.sleep(1)
    assert targets_up() == expected
    assert "order_on_stock_reserved" in lag_series()
    assert set(platform.exporters) == {"nats", "postgres"} and not platform.notes
    # the servers' own figures: the same consumer seen by nats-server, the database by PostgreSQL
    assert value('nats_up{process="nats"}') == 1
    pending = 'nats_consumer_pending{consumer="order_on_stock_reserved"}'
    assert value(pending) is not None
    assert value('pg_up{process="postgres"}') == 1
    groups = httpx.get(f"{api}/rules", timeout=10).json()["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"A4coConsumerLag", "A4coDeadLetters", "A4coLatencyBudgetBurn"} <= names

"""The bus permissions derived from the contracts: each service's least privilege, exactly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from a4co.infra import find_nats_server
from codegen.build import build_catalog
from codegen.errors import ContractErrors
from codegen.loader import Workspace
from codegen.model import Catalog, older_durable
from codegen.permissions import bus_permissions
from generated.bus_permissions import BUS_PERMISSIONS
from runtime.bus.permissions import OPERATOR, password_variable

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "generated" / "nats" / "authorization.conf"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_catalog(Workspace(ROOT / "contracts"))


def by_identity() -> dict[str, tuple[str, ...]]:
    return {grant.identity: grant.publish for grant in BUS_PERMISSIONS}


def test_a_service_publishes_only_the_channels_it_sends(catalog: Catalog) -> None:
    for name, service in catalog.services.items():
        if name in catalog.dlq_operators:
            continue
        grants = by_identity()[name]
        events = {s for s in grants if not s.startswith("$JS.") and not s.startswith("dlq.")}
        assert events == {op.channel.subject for op in service.sends}, name
        assert {s for s in grants if s.startswith("dlq.")} == {f"dlq.{name}.>"}


def may_publish(grants: tuple[str, ...], subject: str) -> bool:
    """NATS matching of `subject` against allow-list entries with `*` and `>`."""
    for pattern in grants:
        p, t = pattern.split("."), subject.split(".")
        if p[-1] == ">" and p[:-1] == t[: len(p) - 1] and len(t) >= len(p):
            return True
        if len(p) == len(t) and all(a in {"*", b} for a, b in zip(p, t, strict=True)):
            return True
    return False


@pytest.mark.parametrize(
    ("subject", "owner"),
    [
        ("payment.succeeded.v1", "payment"),
        ("user.credentials_set.v1", "user"),
        ("auth.session_revoked.v2", "auth"),
    ],
)
def test_only_the_owner_may_announce_a_payment_a_credentials_change_or_a_revocation(
    subject: str, owner: str
) -> None:
    holders = {who for who, grants in by_identity().items() if may_publish(grants, subject)}

    # The admin API redrives dead letters to their subjects; the operator provisions all.
    assert holders == {owner, "admin", OPERATOR}


def test_no_service_may_publish_a_retired_version() -> None:
    # SessionRevoked v1 is retired: once no contract declares it, auth loses it too.
    holders = {
        who
        for who, grants in by_identity().items()
        if may_publish(grants, "auth.session_revoked.v1")
    }
    assert holders == {"admin", OPERATOR}


def test_a_service_drives_only_its_own_consumers_with_their_filters(catalog: Catalog) -> None:
    grants = by_identity()
    for name, service in catalog.services.items():
        creates = {s for s in grants[name] if s.startswith("$JS.API.CONSUMER.CREATE.")}
        expected = {
            f"$JS.API.CONSUMER.CREATE.{catalog.stream_of(channel.subject)[0].name}"
            f".{older_durable(op.durable, op.channel, channel)}.{channel.subject}"
            for op in service.receives
            if op.durable is not None
            for channel in (op.channel, *op.older)  # a durable per version it still reads
        }
        assert creates == expected, name
        if name not in catalog.dlq_operators:  # streams are the operator's
            assert not any(s.startswith("$JS.API.STREAM.") for s in grants[name]), name


def test_services_subscribe_only_to_their_own_inboxes() -> None:
    for grant in BUS_PERMISSIONS:
        if grant.identity != OPERATOR:
            assert grant.subscribe == (f"_INBOX_{grant.identity}.>",)


def test_the_generated_permissions_are_what_the_contracts_give(catalog: Catalog) -> None:
    assert bus_permissions(catalog) == BUS_PERMISSIONS


def test_nats_server_accepts_the_generated_snippet(tmp_path: Path) -> None:
    secrets = {
        password_variable(g.identity): json.dumps(f"p{i}x") for i, g in enumerate(BUS_PERMISSIONS)
    }

    checked = subprocess.run(
        [str(find_nats_server()), "-t", "-c", str(CONF)],
        env=secrets,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert checked.returncode == 0, checked.stderr
    assert "configuration file" in (checked.stdout + checked.stderr).lower()


def test_a_dlq_operator_that_names_no_service_is_an_error_with_its_pointer(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    subprocess.run(["cp", "-r", str(ROOT / "contracts"), str(contracts)], check=True)
    platform = contracts / "platform.yaml"
    platform.write_text(
        platform.read_text().replace("dlq_operators: [admin]", "dlq_operators: [admn]")
    )

    with pytest.raises(ContractErrors) as caught:
        build_catalog(Workspace(contracts))

    [finding] = caught.value.findings
    assert (finding.file, finding.pointer) == ("contracts/platform.yaml", "/dlq_operators/0")
    assert "admn" in finding.message

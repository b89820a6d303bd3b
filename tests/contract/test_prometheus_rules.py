"""The alert rules generated from the contracts: promtool accepts them, its unit tests pass,
and every latency objective is a bucket bound of the runtime's histograms."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from codegen.build import build_catalog
from codegen.errors import ContractError
from codegen.loader import Workspace
from codegen.model import older_durable
from codegen.prometheus import render_rules
from runtime.observability import LATENCY_BUCKETS
from tests.contract.conftest import CONTRACTS, GENERATED, MINI

RULES = GENERATED / "prometheus" / "rules.yaml"
UNIT_TESTS = Path(__file__).resolve().parent / "prometheus" / "rules_test.yaml"
MISSING_PROMTOOL = "promtool is not installed: run `sudo make install-prometheus`"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(MISSING_PROMTOOL)
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_generated_rules() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_rules_unit_tests_pass() -> None:
    tested = _promtool("test", "rules", str(UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_refuses_a_rule_that_does_not_parse(tmp_path: Path) -> None:
    broken = tmp_path / "rules.yaml"
    text = RULES.read_text(encoding="utf-8")
    broken.write_text(text.replace("> 0\n", "> \n", 1), encoding="utf-8")
    assert _promtool("check", "rules", str(broken)).returncode != 0


def test_every_declared_latency_is_a_bucket_of_the_runtime_histograms() -> None:
    for root in (CONTRACTS, MINI):
        catalog = build_catalog(Workspace(root))
        for service in catalog.services.values():
            for slo in [e.slo for e in service.endpoints] + [o.slo for o in service.receives]:
                if slo is not None:
                    assert slo.latency in LATENCY_BUCKETS, f"{slo.place}: add it to the buckets"


def test_every_objective_and_durable_gets_its_rules() -> None:
    catalog = build_catalog(Workspace(CONTRACTS))
    rules = yaml.safe_load(render_rules("# header", catalog)["prometheus/rules.yaml"])
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    lagging = {r["labels"]["durable"] for r in alerts if r["alert"] == "A4coConsumerLag"}
    durables = {
        older_durable(op.durable, op.channel, channel) if op.durable else None
        for s in catalog.services.values()
        for op in s.receives
        for channel in (op.channel, *op.older)  # a durable per version it still reads
    }
    assert lagging == durables
    burning = {
        (r["labels"]["service"], r["labels"]["operation"])
        for r in alerts
        if r["alert"] == "A4coLatencyBudgetBurn"
    }
    declared = {
        (s.name, e.operation_id)
        for s in catalog.services.values()
        for e in s.endpoints
        if e.slo is not None
    }
    assert burning == declared and len(declared) > 50
    names = {r["alert"] for r in alerts}
    assert {"A4coDeadLetters", "A4coSagaPastDeadline", "A4coOutboxBacklogGrowing"} <= names


@pytest.mark.parametrize(
    ("setting", "pointer"),
    [
        ("lag_for: soon", "/alerts/lag_for"),
        ("error_ratio: 5", "/alerts/error_ratio"),
        ("lag_after: 5m", "/alerts/lag_after"),
    ],
)
def test_a_bad_alert_setting_names_its_file_and_pointer(
    tmp_path: Path, setting: str, pointer: str
) -> None:
    contracts = tmp_path / "contracts"
    shutil.copytree(MINI, contracts)
    platform = contracts / "platform.yaml"
    platform.write_text(
        platform.read_text(encoding="utf-8") + f"alerts:\n  {setting}\n", encoding="utf-8"
    )
    with pytest.raises(ContractError) as raised:
        build_catalog(Workspace(contracts))
    assert (raised.value.finding.file, raised.value.finding.pointer) == (
        "contracts/platform.yaml",
        pointer,
    )


def test_a_consumers_max_lag_overrides_the_default_bound(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    shutil.copytree(MINI, contracts)
    shop = contracts / "asyncapi" / "shop.yaml"
    shop.write_text(
        shop.read_text(encoding="utf-8").replace(
            "x-consumer: {max_deliver: 3, ack_wait: 5s}",
            "x-consumer: {max_deliver: 3, ack_wait: 5s, max_lag: 25}",
        ),
        encoding="utf-8",
    )
    rules = render_rules("# header", build_catalog(Workspace(contracts)))["prometheus/rules.yaml"]
    lag = {
        r["labels"]["durable"]: r["expr"]
        for g in yaml.safe_load(rules)["groups"]
        for r in g["rules"]
        if r.get("alert") == "A4coConsumerLag"
    }
    assert lag["shop_on_item_reserved"].endswith("> 25")
    assert all(e.endswith("> 1000") for d, e in lag.items() if d != "shop_on_item_reserved")

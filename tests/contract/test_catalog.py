"""The real catalog: every service generated, every example round-trips through its model."""

from __future__ import annotations

import importlib
import importlib.util
import json
from functools import cache
from typing import Any

import pytest
from pydantic import BaseModel

from codegen.model import Catalog, Example
from codegen.pipeline import load_catalog
from codegen.validate import service_bundle
from generated.platform import SERVICES, STREAMS
from tests.contract.conftest import CONTRACTS, GENERATED, REPO

SEED_EVENTS = [
    "OrderCreated",
    "OrderStateChanged",
    "OrderDelivered",
    "StockReserved",
    "StockThresholdReached",
    "StockReleased",
    "PaymentInitiated",
    "PaymentSucceeded",
    "PaymentFailed",
    "PaymentSplitCreated",
    "UserRegistered",
    "UserBehaviorTracked",
    "UserSegmentChanged",
    "ArtisanVerified",
    "NewProductListed",
    "ArtisanPerformanceEvaluated",
]


@cache
def catalog() -> Catalog:
    return load_catalog(CONTRACTS)[1]


def model_examples() -> list[tuple[str, str, Example]]:
    """(service, model class name, example) for every message and body example."""
    workspace, cat = load_catalog(CONTRACTS)
    out = []
    for service in cat.services.values():
        _, names = service_bundle(workspace, service)
        for op in service.sends + service.receives:
            for example in op.channel.message.examples:
                out.append((service.name, names[op.channel.model_name], example))
        for endpoint in service.endpoints:
            for body in [endpoint.request, *(r.body for r in endpoint.responses)]:
                for example in body.examples if body else ():
                    out.append((service.name, body.schema.name, example))
    return out


def test_documents_exist_for_at_least_17_services() -> None:
    assert len(catalog().services) >= 17
    assert set(SERVICES) == set(catalog().services)


def test_every_seed_event_is_a_message_name() -> None:
    names = {c.message.name for c in catalog().channels.values()}
    assert set(SEED_EVENTS) <= names, set(SEED_EVENTS) - names


@pytest.mark.parametrize("event", SEED_EVENTS)
def test_seed_event_is_in_the_events_module_of_sender_and_receivers(event: str) -> None:
    channel = next(c for c in catalog().channels.values() if c.message.name == event)
    receivers = [
        s.name
        for s in catalog().services.values()
        if any(op.channel is channel for op in s.receives)
    ]
    assert receivers, f"{event} has no receiver"
    sender = importlib.import_module(f"generated.{channel.owner}.events")
    assert event in {c.message for c in _channels(sender)}
    assert any(event in name for name in dir(sender.Publisher)) or hasattr(
        sender.Publisher, _snake(event)
    )
    for receiver in receivers:
        module = importlib.import_module(f"generated.{receiver}.events")
        assert event in {s.channel.message for s in module.SUBSCRIPTIONS}, receiver


def _snake(name: str) -> str:
    from codegen.naming import snake

    return snake(name)


def _channels(module: Any) -> list[Any]:
    from runtime.bus import Channel

    return [v for v in vars(module).values() if isinstance(v, Channel)]


@pytest.mark.parametrize(
    "service", sorted(p.name for p in GENERATED.iterdir() if p.is_dir() and p.name != "__pycache__")
)
def test_every_generated_module_imports(service: str) -> None:
    for module in ("models", "events", "api", "client"):
        if (GENERATED / service / f"{module}.py").exists():
            imported = importlib.import_module(f"generated.{service}.{module}")
            assert imported.__all__, f"generated.{service}.{module} exports nothing"


def test_every_subscription_reads_the_stream_that_captures_its_subject() -> None:
    for service in SERVICES:
        try:
            module = importlib.import_module(f"generated.{service}.events")
        except ModuleNotFoundError:
            continue
        for sub in module.SUBSCRIPTIONS:
            stream = next(s for s in STREAMS if s.name == sub.stream)
            prefix = stream.subjects[0].removesuffix(">")
            assert sub.channel.subject.startswith(prefix), sub
            assert sub.policy.max_deliver > 0


@pytest.mark.parametrize(
    ("service", "model", "example"),
    model_examples(),
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_example_round_trips_through_its_model(service: str, model: str, example: Example) -> None:
    cls: type[BaseModel] = getattr(importlib.import_module(f"generated.{service}.models"), model)
    if cls.model_fields.keys() == {"root"}:
        pytest.fail(f"{model} is a root model; bodies must be objects") if isinstance(
            example.value, dict
        ) else None
    parsed = cls.model_validate_json(json.dumps(example.value))
    dumped = json.loads(parsed.model_dump_json(exclude_unset=True))
    assert dumped == example.value, f"{example.place.file}#{example.place.pointer}"


SEED_LEVELS = {
    ("auth", "introspectToken"): (99.0, 0.05),
    ("inventory", "getAvailability"): (99.0, 0.1),
    ("product", "searchProducts"): (99.0, 0.2),
    ("user", "getProfile"): (99.0, 0.1),
}
"""The seed's service levels: token checks, stock, search and profile reads."""


def test_every_rest_operation_carries_the_service_level_its_description_states() -> None:
    for service in catalog().services.values():
        for endpoint in service.endpoints:
            slo = endpoint.slo
            assert slo is not None, f"{service.name}.{endpoint.operation_id} has no x-slo"
            stated = f"P{slo.percentile:g} < {slo.latency * 1000:g} ms"
            assert stated in " ".join(endpoint.description.split()), endpoint.operation_id
    levels = {
        (s.name, e.operation_id): (e.slo.percentile, e.slo.latency)
        for s in catalog().services.values()
        for e in s.endpoints
        if e.slo is not None and (s.name, e.operation_id) in SEED_LEVELS
    }
    assert levels == SEED_LEVELS


def test_the_benchmarks_read_their_targets_from_the_contracts() -> None:
    spec = importlib.util.spec_from_file_location("objectives", REPO / "bench" / "objectives.py")
    assert spec is not None and spec.loader is not None
    objectives = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(objectives)
    assert objectives.latency_target("auth", "introspectToken") == 0.05
    assert objectives.latency_target("order", "placeOrder") == 0.5
    with pytest.raises(KeyError, match="declares no x-slo"):
        objectives.latency_target("order", "noSuchOperation")

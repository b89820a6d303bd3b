"""Schemathesis against every service, with its contract (not its /openapi.json) as schema.

Each OpenAPI document in contracts/openapi is bundled into one self-contained document and
run against the real service (ServiceHost on the session's NATS, PostgreSQL and Redis)
with an admin token. Examples and coverage always run; fuzzing and stateful (links) run in
the slow group, which CI also runs (`make test`, `make test-contract-fuzz`). A contract
without an implementation fails, naming the missing service. Every message the services
publish meanwhile must validate against its contract too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
import uvicorn

from generated.geo.api import build_router
from runtime.http import ProblemError
from runtime.http.app import create_app
from services.geo.api import GeoApi
from tests.contract.support.fuzz import (
    FAST_PHASES,
    SLOW_PHASES,
    is_validation_detail,
    run_contract,
)
from tests.contract.support.loop import BackgroundLoop
from tests.contract.support.messages import MessageObserver
from tests.contract.support.openapi_bundle import bundle_openapi, openapi_names
from tests.contract.support.platform import ContractPlatform
from tests.e2e.harness import TEST_KEY, bound_socket

DOCUMENTS = openapi_names()
FAST_EXAMPLES = 10
SLOW_EXAMPLES = 25


def _run(
    name: str,
    platform: ContractPlatform,
    observer: MessageObserver,
    token: str,
    *,
    phases: tuple[str, ...],
    max_examples: int,
) -> None:
    url = platform.url(name)  # fails with "service X has no implementation" when missing
    mark = observer.mark()
    report = run_contract(
        name, bundle_openapi(name), url, token, phases=phases, max_examples=max_examples
    )
    platform.call(observer.flush())
    bad_messages = observer.invalid_since(mark)
    assert report.scenarios > 0, f"Schemathesis ran nothing on {name}: {report.describe()}"
    if report.failures or report.errors or bad_messages:
        invalid = "".join(f"\n  INVALID MESSAGE {m}" for m in bad_messages)
        pytest.fail(report.describe() + invalid, pytrace=False)


KNOWN_FAILURES: dict[str, str] = {}
"""Contracts whose quick run still finds real bugs: strict, so a fix makes the test fail."""


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[n], strict=True))
        if n in KNOWN_FAILURES
        else n
        for n in DOCUMENTS
    ],
)
def test_service_answers_its_contract_examples_and_coverage(
    name: str,
    contract_platform: ContractPlatform,
    message_observer: MessageObserver,
    admin_token: str,
) -> None:
    _run(
        name,
        contract_platform,
        message_observer,
        admin_token,
        phases=FAST_PHASES,
        max_examples=FAST_EXAMPLES,
    )


SLOW_KNOWN_FAILURES: dict[str, str] = {}
"""Contracts whose fuzzing still finds a real mismatch: strict, so a fix makes the test fail.

user's e-mail pattern used to be `[^@\\s]`, which ECMA-262, pydantic's Rust regex and
Python's `re` read as three different sets; the lint rule PATTERN_PORTABLE now refuses it.
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=SLOW_KNOWN_FAILURES[n], strict=True))
        if n in SLOW_KNOWN_FAILURES
        else n
        for n in DOCUMENTS
    ],
)
def test_service_survives_fuzzing_and_stateful_links(
    name: str,
    contract_platform: ContractPlatform,
    message_observer: MessageObserver,
    admin_token: str,
) -> None:
    _run(
        name,
        contract_platform,
        message_observer,
        admin_token,
        phases=SLOW_PHASES,
        max_examples=SLOW_EXAMPLES,
    )


class _TeapotGeo(GeoApi):
    """The geo API with one handler answering a status its contract does not document."""

    async def list_provinces(self) -> object:  # type: ignore[override]
        raise ProblemError(418, "I'm a teapot", "Planted by a test.")


@pytest.fixture
def teapot_geo() -> Iterator[str]:
    """A geo app whose listProvinces answers 418, served over HTTP; yields its URL."""
    app = create_app("geo", [build_router(_TeapotGeo())], verifier=TEST_KEY)
    sock = bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    loop = BackgroundLoop("teapot-geo")

    async def serve() -> None:
        asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)

    loop.call(serve())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True

        async def wait() -> None:
            while server.started and not server.should_exit:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)

        with contextlib.suppress(Exception):
            loop.call(wait())
        loop.close()


def test_an_undocumented_status_fails_the_run_naming_status_code_conformance(
    teapot_geo: str, admin_token: str
) -> None:
    report = run_contract("geo", bundle_openapi("geo"), teapot_geo, admin_token, phases=FAST_PHASES)
    planted = [f for f in report.failures if f.operation == "GET /provinces"]
    assert "status_code_conformance" in {f.check for f in planted}, report.describe()
    assert all(f.status == 418 for f in planted if f.check == "status_code_conformance")


@pytest.mark.parametrize(
    ("detail", "from_validation"),
    [
        ("body.push_notifications: Input should be a valid boolean", True),
        ("body: Value error, body.language is null; leave the field out instead", True),
        ("query.from: Value error, not an RFC 3339 date-time", True),
        ("path.user_id: Input should be a valid UUID", True),
        # A service's own business rule naming its body field `query` (trackBehavior).
        ("query: required for searched.", False),
        ("product_id: required for viewed_product.", False),
        ("to: must be after from.", False),
    ],
)
def test_only_the_apps_input_validation_counts_as_stricter_than_the_contract(
    detail: str, from_validation: bool
) -> None:
    assert is_validation_detail(detail) is from_validation

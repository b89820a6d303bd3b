"""Helpers of the contract tests: the repository's paths and a copy-and-break fixture."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"
GENERATED = REPO / "generated"
MINI = Path(__file__).resolve().parent / "fixtures" / "mini"


@pytest.fixture
def mini_copy(tmp_path: Path) -> Callable[[], Path]:
    """Copy the mini fixture catalog to a temp folder named `contracts` and return it."""

    def make() -> Path:
        target = tmp_path / "contracts"
        shutil.copytree(MINI, target)
        return target

    return make


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact text in a file; fail loudly when it is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not found in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# Services under contract: every service hosted once per test module (see support/platform.py),
# with a bus observer that validates every message against the catalog for the session.


@pytest.fixture(scope="module")
def message_observer(nats_url: str) -> Iterator[Any]:
    """A `MessageObserver` on the session's NATS, in a loop of its own, for one module."""
    from tests.contract.support.loop import BackgroundLoop
    from tests.contract.support.messages import MessageObserver

    loop = BackgroundLoop("contract-observer")
    observer = MessageObserver()
    loop.call(observer.start(nats_url))
    yield observer
    loop.call(observer.stop())
    loop.close()


@pytest.fixture(scope="module")
def contract_platform(
    message_observer: Any, nats_url: str, database_url: str, redis_url: str
) -> Iterator[Any]:
    """Every service with a contract or an implementation, over real HTTP; stopped at the
    module's end so later modules' services do not compete with these for messages."""
    from tests.contract.support.platform import ContractPlatform, platform_services

    running = ContractPlatform(nats_url, database_url, redis_url)
    try:
        running.start(platform_services(CONTRACTS))
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def admin_token() -> str:
    """A bearer token of an admin (admins pass ownership checks), signed with TEST_KEY."""
    import uuid

    from tests.e2e.harness import TEST_KEY

    return TEST_KEY.issue(uuid.uuid4(), ["admin"], lifetime=4 * 3600)

"""The supervisor's restart rules, on a fake platform and a fake clock; and `--replicas`."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from a4co.cli.running import with_replicas
from a4co.launcher import LaunchError, Platform, RestartPolicy, Supervisor
from runtime.errors import ConfigurationError


class FakePlatform:
    """Processes that end when told to and start again unless told to fail."""

    def __init__(self, *names: str) -> None:
        self.modules = {name: f"services.{name}" for name in names}
        self.codes: dict[str, int] = {}
        self.started: list[str] = []
        self.failing: set[str] = set()

    def exited(self) -> dict[str, int]:
        return dict(self.codes)

    def start_service(self, name: str) -> None:
        self.started.append(name)
        if name in self.failing:
            self.codes[name] = 1
            raise LaunchError(f"the {name} service exited with code 1 before it was ready")
        del self.codes[name]

    def log_path(self, name: str) -> Path:
        return Path(f"/logs/{name}.log")

    def pid(self, name: str) -> int:
        return 4242


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervised(*names: str) -> tuple[FakePlatform, Clock, list[str], Supervisor]:
    platform, clock, lines = FakePlatform(*names), Clock(), []
    supervisor = Supervisor(
        cast(Platform, platform),
        say=lines.append,
        policy=RestartPolicy(first_delay=1, max_delay=3, stable_after=60, max_quick_failures=3),
        clock=clock,
    )
    return platform, clock, lines, supervisor


def test_a_killed_service_is_announced_then_restarted_after_its_delay() -> None:
    platform, clock, lines, supervisor = supervised("order", "user")
    platform.codes["order"] = -9

    supervisor.step()
    assert lines == [
        "the order service was killed by SIGKILL (code -9); restarting in 1 s (restart 1); "
        "log /logs/order.log"
    ]
    supervisor.step()
    assert platform.started == []  # not before its delay

    clock.now += 1
    supervisor.step()
    assert platform.started == ["order"]
    assert lines[-1] == "the order service is back (pid 4242, restart 1)"
    assert supervisor.restarts("order") == 1


def test_quick_failures_double_the_delay_up_to_the_cap_then_give_up() -> None:
    platform, clock, lines, supervisor = supervised("order")
    platform.failing.add("order")
    platform.codes["order"] = 1
    delays = []
    for _ in range(3):
        supervisor.step()
        delays.append(lines[-1].split("restarting in ")[1].split(" s")[0])
        clock.now += 10
        supervisor.step()  # restarts; it fails again at once
        assert "failed: the order service exited with code 1" in lines[-1]
    assert delays == ["1", "2", "3"]  # doubled, then the cap
    supervisor.step()
    assert "giving up after 3 restarts" in lines[-1]
    assert supervisor.given_up == ["order"]
    started = len(platform.started)
    clock.now += 100
    supervisor.step()
    assert len(platform.started) == started


def test_a_service_that_stayed_up_starts_again_from_the_first_delay() -> None:
    platform, clock, lines, supervisor = supervised("order")
    for _ in range(2):
        platform.codes["order"] = -9
        supervisor.step()
        clock.now += 5
        supervisor.step()
    assert "restarting in 2 s (restart 2)" in lines[-2]

    clock.now += 61  # up for longer than stable_after
    platform.codes["order"] = -9
    supervisor.step()
    assert "restarting in 1 s (restart 3)" in lines[-1]


def test_replicas_add_processes_of_the_same_module() -> None:
    services = {"order": "services.order", "user": "services.user"}
    assert with_replicas(services, "order=3, user=1") == {
        "order": "services.order",
        "user": "services.user",
        "order_2": "services.order",
        "order_3": "services.order",
    }
    assert with_replicas(services, "") == services


@pytest.mark.parametrize(
    ("replicas", "named"), [("cart=2", "'cart' is not a service"), ("order=two", "whole number")]
)
def test_replicas_of_an_unknown_service_or_count_are_refused(replicas: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        with_replicas({"order": "services.order"}, replicas)

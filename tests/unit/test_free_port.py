"""`free_port`: ports for embedded servers that no outgoing connection can take first."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from a4co.infra import ports
from a4co.infra.ports import LOOPBACK, ephemeral_ports, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_bindable() -> None:
    ephemeral = ephemeral_ports()
    ports = {free_port() for _ in range(50)}
    assert all(10_000 <= port < ephemeral.start for port in ports), sorted(ports)
    assert len(ports) > 40  # random, not one port again and again
    for port in list(ports)[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, port))
            sock.listen()


def test_a_port_someone_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((LOOPBACK, free_port()))
        held.listen()
        taken = held.getsockname()[1]
        other = free_port()
        drawn = iter([taken, other])
        monkeypatch.setattr(ports.random, "randrange", lambda *_: next(drawn))
        assert free_port() == other


def test_the_ephemeral_range_is_the_kernels() -> None:
    text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    low, high = (int(n) for n in text.split())
    assert ephemeral_ports() == range(low, high + 1)

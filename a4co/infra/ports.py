"""Addresses for embedded servers: free TCP ports on loopback and unix-socket paths that fit."""

from __future__ import annotations

import hashlib
import random
import socket
import tempfile
from pathlib import Path

__all__ = ["LOOPBACK", "can_connect", "ephemeral_ports", "free_port", "socket_path"]

LOOPBACK = "127.0.0.1"

_PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"

# A unix socket path must fit sun_path: 108 bytes on Linux, 104 on macOS.
_MAX_SOCKET_PATH = 100


_LOWEST = 10_000
"""Below it: well-known and registered ports of common servers (PostgreSQL, NATS, Redis)."""


def ephemeral_ports() -> range:
    """The kernel's range for the local ports of outgoing connections."""
    try:
        low, high = (int(n) for n in Path(_PORT_RANGE).read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on `host` that nothing uses right now, below the ephemeral range.

    Not the kernel's choice (`bind(0)`): that comes from the ephemeral range, where any
    outgoing connection of any process may take the port before the server binds it. A
    CI run lost a cluster node so ("bind: address already in use") while 18 services were
    connecting. Falls back to the kernel's choice when no port below the range is free.
    """
    ephemeral = ephemeral_ports()
    if ephemeral.start > _LOWEST + 1000:
        for _ in range(200):
            port = random.randrange(_LOWEST, ephemeral.start)
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def can_connect(host: str, port: int, *, timeout: float = 0.2) -> bool:
    """Tell whether a TCP connection to `host:port` succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def socket_path(directory: Path, name: str) -> Path:
    """Return `directory/name`, or a stable short stand-in in the temp dir if that is too long.

    The stand-in depends only on the long path, so a restarted server gets the same socket.
    """
    path = directory.resolve() / name
    if len(str(path).encode()) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    short_dir = Path(tempfile.gettempdir()) / f"a4co-{digest}"
    short_dir.mkdir(mode=0o700, exist_ok=True)
    return short_dir / name

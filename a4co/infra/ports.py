"""Addresses for embedded servers: free TCP ports on loopback and unix-socket paths that fit."""

from __future__ import annotations

import hashlib
import socket
import tempfile
from pathlib import Path

__all__ = ["LOOPBACK", "can_connect", "free_port", "socket_path"]

LOOPBACK = "127.0.0.1"

# A unix socket path must fit sun_path: 108 bytes on Linux, 104 on macOS.
_MAX_SOCKET_PATH = 100


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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

"""`python -m a4co.launcher [--data-dir DIR] [service ...]`: run the platform until Ctrl-C.

A service is a name (run as `python -m services.<name>`) or `name=module`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from a4co.infra import DEFAULT_DATA_DIR
from a4co.infra.base import redact
from a4co.launcher.errors import LaunchError
from a4co.launcher.platform import (
    BOOTSTRAP_ADMIN_ENV,
    DEFAULT_SERVICES,
    DEV_BOOTSTRAP_ADMIN,
    Platform,
)
from a4co.launcher.supervisor import Supervisor
from runtime.errors import PlatformError

__all__ = ["main"]

PROG = "python -m a4co.launcher"


class _StopRequestedError(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so that start-up cleans up on the way out."""


def main(argv: Sequence[str] | None = None) -> int:
    """Start the platform, print where everything is, serve until signalled, stop cleanly."""
    args = _parser().parse_args(argv)
    try:
        platform = Platform(
            _services(args.services), data_dir=args.data_dir, ready_timeout=args.ready_timeout
        )
    except PlatformError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    _on_stop_signals()
    try:
        platform.start()  # on any failure it stops what it started before raising
    except _StopRequestedError:
        print("interrupted: stopped before every service was ready", flush=True)
        return 130
    except PlatformError as exc:
        summary = exc.summary if isinstance(exc, LaunchError) else str(exc).splitlines()[0]
        print(f"{PROG}: start-up failed: {summary}", file=sys.stderr)
        return 1
    _serve(platform)
    print("stopping...", flush=True)
    try:
        platform.stop()
    except PlatformError as exc:
        print(f"{PROG}: stop failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    count = len(platform.urls)
    print(f"stopped {count} service{'s' * (count != 1)} and the servers it started", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"embedded servers' data and services' logs (default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for every service's /readyz (default 60)",
    )
    parser.add_argument(
        "services",
        nargs="*",
        default=list(DEFAULT_SERVICES),
        help=f"names, or name=module (default: {' '.join(DEFAULT_SERVICES)})",
    )
    return parser


def _services(arguments: Sequence[str]) -> dict[str, str]:
    pairs = (argument.partition("=") for argument in arguments)
    return {name: module or f"services.{name}" for name, _, module in pairs}


def _on_stop_signals() -> None:
    """The first SIGINT or SIGTERM aborts start-up, or ends `_serve`; later ones are ignored."""

    def handle(signum: int, frame: FrameType | None) -> None:
        _ignore_stop_signals()
        raise _StopRequestedError

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _ignore_stop_signals() -> None:
    # A second Ctrl-C must not interrupt the stop and leave children or servers behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _serve(platform: Platform) -> None:
    """Print where everything is, then wait for a signal; restart services that end meanwhile."""
    supervisor = Supervisor(
        platform, say=lambda line: print(f"{PROG}: {line}", file=sys.stderr, flush=True)
    )
    try:
        _print_table(platform)
        while True:
            time.sleep(0.5)
            supervisor.step()
    except _StopRequestedError:
        return


def _print_table(platform: Platform) -> None:
    infra = platform.infra
    servers = {"nats": infra.nats_url, "postgres": infra.database_url, "redis": infra.redis_url}
    names = [*platform.urls, *servers]
    width = max(len(name) for name in names)
    url_width = max(len(url) for url in platform.urls.values())
    print(f"A4CO platform ready (data in {platform.data_dir})")
    for name, url in platform.urls.items():
        print(f"  {name:<{width}}  {url:<{url_width}}  log {platform.log_path(name)}")
    for name, server_url in servers.items():
        if server_url is not None:
            print(f"  {name:<{width}}  {redact(server_url)}")
    if "gateway" in platform.urls:
        print(f"Gateway (the edge): {platform.urls['gateway']}/api/<service>/<path>")
    admin = platform.env.get(BOOTSTRAP_ADMIN_ENV, "")
    if "auth" in platform.urls and admin:
        email, _, password = admin.partition(":")
        shown = password if admin == DEV_BOOTSTRAP_ADMIN else "(from A4CO_BOOTSTRAP_ADMIN)"
        print(f"Admin login: {email}  password {shown}")
    print("Press Ctrl-C to stop.", flush=True)

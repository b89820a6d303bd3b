"""Connecting to NATS from a setting that may list several servers: `nats://a,nats://b`.

The user and password are taken out of the URLs and given to nats-py as options: nats-py
reconnects to servers the cluster tells it of (without credentials in their URLs) and only
the options reach those, so a URL's credentials alone would be refused there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import nats
from nats.aio.client import Client

from runtime.errors import ConfigurationError

__all__ = ["connect", "server_urls"]


def server_urls(url: str) -> list[str]:
    """The URLs of a comma-separated list, blanks dropped; at least one."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ConfigurationError(f"the NATS URL {url!r} names no server")
    return urls


async def connect(url: str, **options: Any) -> Client:
    """`nats.connect` to every server `url` lists, with the credentials the URLs carry."""
    servers: list[str] = []
    credentials: set[tuple[str, str]] = set()
    for server in server_urls(url):
        parts = urlsplit(server)
        if parts.username is not None:
            credentials.add((unquote(parts.username), unquote(parts.password or "")))
        host = parts.netloc.rsplit("@", 1)[-1]
        servers.append(urlunsplit(parts._replace(netloc=host)))
    if len(credentials) > 1:
        raise ConfigurationError("the NATS URLs carry different users: give every server one")
    if credentials:
        user, password = credentials.pop()
        options.setdefault("user", user)
        options.setdefault("password", password)
    return await nats.connect(servers, **options)

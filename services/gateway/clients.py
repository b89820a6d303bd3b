"""Who the client is: the peer's address, or what trusted proxies say it is.

`X-Forwarded-For` and `Forwarded` are anyone's to write, so they count only when the peer
is a configured proxy; then the right-most address that is not a trusted proxy is the
client (each proxy appends the address it saw, so everything left of it is the client's
own claim). uvicorn's own proxy-header handling is off, so the peer is the socket's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from starlette.datastructures import Headers

from runtime.errors import ConfigurationError

__all__ = ["TrustedProxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = re.compile(r'(?:^|[;,\s])for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)


class TrustedProxies:
    """The proxies (IPs or CIDRs) whose forwarding headers the gateway believes."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks: tuple[Network, ...] = tuple(_network(n) for n in networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str) -> bool:
        """Whether `address` is one of the trusted proxies (False for anything not an IP)."""
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self._networks)

    def client(self, peer: str, headers: Headers) -> str:
        """The client's address: the peer, unless a trusted proxy forwarded the request."""
        if not self.trusts(peer):
            return peer
        hops = _forwarded_for(headers)
        decided = peer
        for hop in reversed(hops):
            if _ip(hop) is None:
                break  # a proxy we trust wrote garbage: believe no further than that proxy
            decided = hop
            if not self.trusts(hop):
                break
        return decided


def _forwarded_for(headers: Headers) -> Sequence[str]:
    """The forwarded-for chain, left (first client) to right (last proxy's peer).

    `Forwarded` (RFC 7239) when present, else `X-Forwarded-For`; repeated headers join.
    """
    forwarded = headers.getlist("forwarded")
    if forwarded:
        values = [m.group(1).strip('"') for m in _FORWARDED_FOR.finditer(",".join(forwarded))]
        return [_strip_port(v) for v in values]
    chain = ",".join(headers.getlist("x-forwarded-for"))
    return [hop.strip() for hop in chain.split(",") if hop.strip()]


def _strip_port(node: str) -> str:
    """`"[2001:db8::1]:4711"` -> `2001:db8::1`, `192.0.2.1:80` -> `192.0.2.1`."""
    if node.startswith("["):
        return node[1:].partition("]")[0]
    if node.count(":") == 1:
        return node.partition(":")[0]
    return node


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ConfigurationError(
            f"A4CO_GATEWAY_TRUSTED_PROXIES: {text.strip()!r} is not an IP address or CIDR"
        ) from exc

"""The client's network address: the peer, or what a trusted reverse proxy says it forwarded for."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

FORWARDED_FOR = "X-Forwarded-For"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(raw: str) -> tuple[Network, ...]:
    """Return the networks of a comma-separated list of IPs and CIDRs; ``ValueError`` on a bad entry."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


class TrustedProxies:
    """Reads ``X-Forwarded-For`` only from the listed proxies, right to left, up to the first untrusted hop."""

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    def trusts(self, address: str) -> bool:
        """Return whether ``address`` is one of the listed proxies."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """Return the client address behind ``peer`` given its ``X-Forwarded-For`` header values.

        From a peer that is not a listed proxy the header is ignored (anyone can write it). From a
        listed proxy the hops are read from the right: the first one that is not a listed proxy is
        the client; a hop that is not an address stops the walk at the last trusted hop.
        """
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        address = peer
        for hop in reversed(hops):
            try:
                hop = str(ipaddress.ip_address(hop))
            except ValueError:
                return address
            address = hop
            if not self.trusts(hop):
                return hop
        return address


def request_address(request: web.BaseRequest, proxies: TrustedProxies) -> str:
    """Return the client address of an HTTP request (the Socket.IO handshake included)."""
    return proxies.client(request.remote or "", request.headers.getall(FORWARDED_FOR, []))

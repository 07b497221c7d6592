"""The client address behind reverse proxies: DESKLINE_TRUSTED_PROXIES and X-Forwarded-For."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from auth.addresses import TrustedProxies, parse_proxies
from config import Settings
from tests.helpers import RunningServer
from tests.security.test_abuse import from_address

PROXIES = TrustedProxies(parse_proxies("10.0.0.0/8, 192.168.1.1 ,2001:db8::/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # not a proxy: the header is anyone's to write
        ("10.1.2.3", [], "10.1.2.3"),
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own claim on the left is ignored
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1, 192.168.1.1"], "198.51.100.1"),  # through two proxies
        ("10.1.2.3", ["6.6.6.6", "198.51.100.1,10.9.9.9"], "198.51.100.1"),  # several header lines
        ("10.1.2.3", ["10.2.2.2, 10.3.3.3"], "10.2.2.2"),  # only proxies: the farthest one
        ("10.1.2.3", ["198.51.100.1, garbage"], "10.1.2.3"),  # a hop that is no address stops the walk
        ("2001:db8::1", ["2001:0db8:0000::0002, 2600::1"], "2600::1"),
        ("unix-socket", ["198.51.100.1"], "unix-socket"),
    ],
)
def test_forwarded_for_is_read_from_trusted_proxies_only(peer: str, forwarded: list[str], client: str) -> None:
    assert PROXIES.client(peer, forwarded) == client


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValidationError):
        Settings(trusted_proxies="10.0.0.1, proxy.example.com")
    assert Settings(trusted_proxies="").trusted_proxies == ""


async def login_fails(server: RunningServer, address: str, email: str, code: str) -> None:
    """Log in as ``email`` (no such account) through the proxy for ``address`` and expect ``code``."""
    client = await from_address(server, address)
    await client.error("login", {"email": email, "password": "whatever1234"}, code)


async def test_without_trusted_proxies_a_forged_header_does_not_dodge_the_address_limit(
    server: RunningServer,
) -> None:
    for i in range(5):
        await login_fails(server, f"198.51.100.{i}", f"n{i}@example.com", "unauthorized")
    await login_fails(server, "198.51.100.99", "n99@example.com", "rate_limited")


async def test_behind_a_trusted_proxy_each_client_has_its_own_address_limit(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", trusted_proxies="127.0.0.0/8", login_max_failures=2)
    await login_fails(srv, "198.51.100.1", "n1@example.com", "unauthorized")
    await login_fails(srv, "198.51.100.1", "n2@example.com", "unauthorized")
    await login_fails(srv, "198.51.100.1", "n3@example.com", "rate_limited")
    await login_fails(srv, "198.51.100.2", "n3@example.com", "unauthorized")

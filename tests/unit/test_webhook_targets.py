"""Webhook targets: every class of address that is not public is refused, and a delivery goes to the address it
checked, whatever the name resolves to later (DNS rebinding). DNS is faked here: the rule is what is tested."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from services.webhooks.targets import ForbiddenTarget, check_addresses, pin, refusal


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "not public"),  # shared address space (carrier-grade NAT)
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_an_address_that_is_not_public_is_refused_naming_its_class(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == why
    with pytest.raises(ForbiddenTarget, match=f"a {why} address"):
        check_addresses("hook.example", [ipaddress.ip_address(address)], allow_private=False)
    assert check_addresses("hook.example", [ipaddress.ip_address(address)], allow_private=True)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_a_public_address_is_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_one_private_address_among_public_ones_is_refused() -> None:
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")]
    with pytest.raises(ForbiddenTarget, match=r"10\.0\.0\.1, a private address"):
        check_addresses("hook.example", addresses, allow_private=False)


def answers(*addresses: str) -> Any:
    """A fake resolver that answers each lookup with the next address: a name that rebinds."""
    remaining = list(addresses)

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (remaining.pop(0), port))]

    return getaddrinfo


async def test_a_delivery_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", answers("93.184.216.34", "127.0.0.1"))

    pinned = await pin("https://hook.example:8443/in?x=1", allow_private=False)
    assert (pinned.url, pinned.host_header, pinned.server_name) == (
        "https://93.184.216.34:8443/in?x=1",
        "hook.example:8443",
        "hook.example",
    )
    with pytest.raises(ForbiddenTarget, match=r"'hook\.example' resolves to 127\.0\.0\.1, a loopback address"):
        await pin("https://hook.example:8443/in?x=1", allow_private=False)  # the name now points inside

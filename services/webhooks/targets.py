"""Where a webhook may send events: never into the network it runs in (SSRF), unless the operator allows it.

A URL's host is resolved, and every address it resolves to is checked: loopback, private, link-local (cloud
metadata at 169.254.169.254), shared, reserved, multicast and unspecified addresses are refused, IPv4-mapped IPv6
addresses (::ffff:10.0.0.1) as their IPv4 address. The check runs at registration and again at each delivery,
and a delivery connects to the address it checked (the host stays in the Host header and TLS server name), so a
DNS answer that changes in between (DNS rebinding) cannot redirect it. CRISIS_WEBHOOK_ALLOW_PRIVATE=true allows
every address, for endpoints on the operator's own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


class ForbiddenTarget(ValueError):
    pass


@dataclass(frozen=True)
class Pinned:
    """A request to the address that was checked, on behalf of the URL's host."""

    url: str  # the URL with the checked address in place of the host
    host_header: str
    server_name: str  # for TLS: the certificate must name the host, not the address


def refusal(address: Address) -> str | None:
    """Why deliveries must not go to this address; None when it is a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "not public"


def check_addresses(host: str, addresses: list[Address], allow_private: bool) -> Address:
    """The first address, when none is refused; else ForbiddenTarget naming the address and why."""
    if not addresses:
        raise ForbiddenTarget(f"{host!r} resolves to no address")
    for address in addresses:
        why = None if allow_private else refusal(address)
        if why is not None:
            raise ForbiddenTarget(
                f"{host!r} resolves to {address}, a {why} address: webhooks go to public addresses only "
                "(CRISIS_WEBHOOK_ALLOW_PRIVATE=true allows others)"
            )
    return addresses[0]


def _checked(host: str, infos: list[tuple[Any, ...]], allow_private: bool) -> Address:
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    return check_addresses(host, addresses, allow_private)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ForbiddenTarget(f"{url!r} names no host")
    return parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 443)


def _unresolved(host: str, exc: socket.gaierror) -> ForbiddenTarget:
    return ForbiddenTarget(f"{host!r} does not resolve: {exc.strerror}")


def check_url(url: str, allow_private: bool) -> None:
    """At registration: resolve the URL's host here and now, and check every address."""
    host, port = _host_port(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _unresolved(host, exc) from exc
    _checked(host, infos, allow_private)


async def pin(url: str, allow_private: bool) -> Pinned:
    """At delivery: resolve again, check every address, and aim the request at the one checked."""
    host, port = _host_port(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _unresolved(host, exc) from exc
    address = _checked(host, infos, allow_private)
    parts = urlsplit(url)
    port_suffix = f":{parts.port}" if parts.port else ""
    host_literal = f"[{host}]" if ":" in host else host
    address_literal = f"[{address}]" if address.version == 6 else str(address)
    return Pinned(urlunsplit(parts._replace(netloc=address_literal + port_suffix)), host_literal + port_suffix, host)

"""``block_private_addresses``: refuse connections to addresses that are not public.

The check sits where the connection is made, not where the URL is read: a
wrapper around httpcore's network backend resolves the host itself, refuses the
connection if *any* address it resolves to is loopback, private, link-local
(cloud metadata at 169.254.169.254), shared, reserved or otherwise not
globally routable, and then connects to the very address it checked. So a
redirect (every hop opens its own connection) and DNS rebinding (no second
lookup between the check and the connect) cannot get past it.

``blocked_reason`` is the pure policy; ``GuardedBackend`` is the I/O.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
Policy = Callable[[IPAddress], "str | None"]


class BlockedAddressError(httpcore.ConnectError):
    """A connection refused by the policy; httpx reports it as a ``ConnectError``."""


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be reached, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def parse_ip(text: str) -> IPAddress:
    """An address as getaddrinfo gives it (an IPv6 zone such as ``%eth0`` is dropped)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the order the system prefers them."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    seen: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def check(host: str, addresses: Iterable[str], policy: Policy = blocked_reason) -> list[str]:
    """The addresses to connect to; raises when any of them is refused, or there are none."""
    checked = list(addresses)
    if not checked:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    for address in checked:
        reason = policy(parse_ip(address))
        if reason is not None:
            where = host if host == address else f"{host} resolves to {address}, which"
            raise BlockedAddressError(f"refused by block_private_addresses: {where} is {reason}")
    return checked


class GuardedBackend(AsyncNetworkBackend):
    """A network backend that resolves, checks, then connects to the checked address."""

    def __init__(
        self,
        inner: AsyncNetworkBackend | None = None,
        resolver: Resolver = system_resolver,
        policy: Policy = blocked_reason,
    ) -> None:
        self.inner = inner or httpcore.AnyIOBackend()
        self.resolver = resolver
        self.policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolver(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        last: Exception | None = None
        for address in check(host, addresses, self.policy):
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # try the host's next address, as a plain connect would
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise BlockedAddressError("refused by block_private_addresses: a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)

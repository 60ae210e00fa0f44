"""Where webhooks may connect: host names are resolved and every address checked.

`PublicOnlyResolver` is the resolver of the dispatcher's HTTP client: aiohttp
connects only to the addresses it returns, so the connection is pinned to an
address that was checked (no second lookup a DNS answer could change). A name
that resolves only to loopback, private, link-local or metadata addresses is
refused at registration and at every connection, unless the deployment allows
insecure targets (development).
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from secondlook.addresses import address_allowed


class TargetRefused(OSError):
    """The host resolves to no address notices may be sent to."""


class PublicOnlyResolver(AbstractResolver):
    def __init__(self, allow_insecure: bool, resolver: AbstractResolver | None = None):
        self._allow_insecure = allow_insecure
        self._resolver = resolver or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        if self._allow_insecure:
            return results
        allowed = [r for r in results if address_allowed(r["host"])]
        if not allowed:
            raise TargetRefused(f"{host[:100]} resolves to no public address")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


async def check_host(host: str, port: int, allow_insecure: bool, resolver: AbstractResolver | None = None
                     ) -> str | None:
    """Why a webhook host may not be used, or None (resolves it, as a connection would)."""
    guard = PublicOnlyResolver(allow_insecure, resolver)
    try:
        await guard.resolve(host, port, socket.AF_UNSPEC)
    except TargetRefused:
        return "must not resolve to a loopback, private or link-local address"
    except OSError:
        return "host name does not resolve"
    finally:
        await guard.close()
    return None

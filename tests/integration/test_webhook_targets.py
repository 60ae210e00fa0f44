"""Webhook targets against real name resolution and a real HTTP server: a host
name that resolves to this machine is refused, and the dispatcher's client
never connects to it (unless insecure targets are allowed, as in development)."""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
import pytest
from aiohttp import web

from services.notify.targets import PublicOnlyResolver, check_host


@pytest.fixture
async def local_server():
    hits = []

    async def hook(request):
        hits.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield port, hits
    await runner.cleanup()


def _inward_name() -> str:
    """This machine's own name: /etc/hosts points it at a loopback or private address."""
    name = socket.gethostname()
    addresses = {a[4][0] for a in socket.getaddrinfo(name, None)}
    assert addresses and not any(ipaddress.ip_address(a).is_global for a in addresses), addresses
    return name


async def test_a_host_name_resolving_to_this_machine_is_refused_and_never_connected_to(local_server):
    port, hits = local_server
    name = _inward_name()
    assert await check_host(name, port, allow_insecure=False) == \
        "must not resolve to a loopback, private or link-local address"

    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(allow_insecure=False))
    async with aiohttp.ClientSession(connector=connector) as http:
        with pytest.raises(aiohttp.ClientConnectorError):
            await http.post(f"http://{name}:{port}/hook", data=b"{}")
    assert hits == []

    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(allow_insecure=True))
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(f"http://{name}:{port}/hook", data=b"{}") as response:
            assert response.status == 204
    assert hits == [b"{}"]

"""End-to-end fixtures: the whole platform as processes, and a real webhook receiver."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from secondlook import client
from secondlook.devstack import Stack
from secondlook.settings import Settings
from secondlook.v1 import notify_pb2

pytestmark = pytest.mark.e2e

# Short clocks so a case stuck by a lost event is re-driven within seconds.
FAST = {
    "SECONDLOOK_SWEEPER_STUCK_AFTER_SECONDS": "3",
    "SECONDLOOK_SWEEPER_INTERVAL_SECONDS": "1",
}


def start_stack(home: Path) -> Stack:
    stack = Stack(home, overrides=FAST)
    try:
        stack.start()
    except Exception:
        logs = "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in stack.processes())
        stack.stop()
        raise RuntimeError(f"stack failed to start:\n{logs}") from None
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.stop()
    assert not [p.name for p in stack.processes() if p.alive], "processes outlived the stack"


@pytest.fixture(scope="session")
def stack_settings(stack) -> Settings:
    return Settings(jwt_secret=stack.jwt_secret)


class Receiver:
    """A tenant's real HTTP endpoint; keeps every request, verified or not."""

    def __init__(self):
        self.secret = ""
        self.requests: list[dict] = []
        self._runner = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        try:
            payload = Webhook(self.secret).verify(body, headers)
            valid = True
        except Exception:
            payload, valid = None, False
        self.requests.append({"headers": headers, "body": body, "payload": payload, "valid": valid})
        return web.Response(status=204 if valid else 401)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"

    async def stop(self) -> None:
        await self._runner.cleanup()

    def for_case(self, case_id: str) -> list[dict]:
        return [r for r in self.requests if r["payload"] and r["payload"]["data"]["case_id"] == case_id]

    def per_case(self) -> collections.Counter:
        return collections.Counter(r["payload"]["data"]["case_id"] for r in self.requests if r["payload"])


async def registered_receiver(settings: Settings, stack: Stack, tenant: str) -> Receiver:
    receiver = Receiver()
    await receiver.start()
    notify, authed = client.tenant_admin(settings, stack.target("notify"), tenant)
    reply = await notify.RegisterWebhook(notify_pb2.RegisterWebhookRequest(url=receiver.url),
                                         metadata=authed.metadata, timeout=10)
    await authed.close()
    receiver.secret = reply.secret
    return receiver

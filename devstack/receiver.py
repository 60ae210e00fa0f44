"""A tenant's webhook endpoint for the demo, the benchmark and the tests.

A real HTTP server that checks every signature with `standardwebhooks`, the
reference implementation, so notify's signing is verified independently.
"""

from __future__ import annotations

import collections
import time

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from devstack import clients
from secondlook.settings import Settings
from secondlook.v1 import notify_pb2


class WebhookReceiver:
    def __init__(self):
        self.secret = ""
        self.url = ""
        # Every request as received: headers, body, verified payload (or None), valid flag.
        self.requests: list[dict] = []
        # Set to an HTTP status to play a receiver that is down (tests of retries)...
        self.refuse_with: int | None = None
        # ...for this many requests only, then receive again (0: as long as refuse_with is set).
        self.refuse_count = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        try:
            payload, valid = Webhook(self.secret).verify(body, headers), True
        except Exception:
            payload, valid = None, False
        at = time.monotonic()
        if self.refuse_with is not None:
            status = self.refuse_with
            if self.refuse_count:
                self.refuse_count -= 1
                if not self.refuse_count:
                    self.refuse_with = None
            self.requests.append({"headers": headers, "body": body, "payload": None, "valid": valid,
                                  "refused": True, "at": at})
            return web.Response(status=status)
        self.requests.append({"headers": headers, "body": body, "payload": payload, "valid": valid, "at": at})
        return web.Response(status=204 if valid else 401)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhooks/secondlook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/webhooks/secondlook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def verified(self) -> list[dict]:
        """Payloads accepted: signature valid and answered 2xx."""
        return [r["payload"] for r in self.requests if r["valid"] and not r.get("refused")]

    @property
    def rejected(self) -> int:
        return sum(not r["valid"] for r in self.requests)

    @property
    def refused(self) -> list[dict]:
        return [r for r in self.requests if r.get("refused")]

    def for_case(self, case_id: str) -> list[dict]:
        return [r for r in self.requests if r["payload"] and r["payload"]["data"]["case_id"] == case_id]

    def per_case(self) -> collections.Counter:
        return collections.Counter(p["data"]["case_id"] for p in self.verified if p)


async def registered_receiver(settings: Settings, notify_target: str, tenant: str) -> WebhookReceiver:
    """Starts a receiver and registers it as the tenant's endpoint through notify's API."""
    receiver = WebhookReceiver()
    await receiver.start()
    notify, authed = clients.tenant_admin(settings, notify_target, tenant)
    try:
        reply = await notify.RegisterWebhook(notify_pb2.RegisterWebhookRequest(url=receiver.url),
                                             metadata=authed.metadata, timeout=10)
    finally:
        await authed.close()
    receiver.secret = reply.secret
    return receiver

"""notify's sending loop (an entry point, like the event handlers): claims due
deliveries, POSTs them through the webhook sender, and records each outcome
through the use cases.

A sender that dies mid-send leaves a lease that expires, and the delivery is
tried again under the same webhook-id: receivers drop the repeat.

With nothing due the loop asks the store once when the next delivery falls due
(a retry's backoff, a lease that runs out) and sleeps until then, or until it
is woken (a new delivery recorded, a redrive), at most a minute: an idle
notify sends the store one query a minute.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import aiohttp

from secondlook import backoff, metrics
from secondlook.clock import Clock
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact

from . import usecases
from .domain.deliveries import Delivery
from .domain.webhooks import check_endpoint_url, headers
from .repository import DeliveryQueue, EndpointRepository
from .targets import PublicOnlyResolver

log = get_logger(__name__)

IDLE_RECHECK_SECONDS = 60.0


class WebhookSender:
    """The HTTP adapter: one signed POST, connecting only to checked public addresses."""

    def __init__(self, timeout: float, allow_insecure: bool):
        self._timeout = timeout
        self._allow_insecure = allow_insecure
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookSender:
        connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(self._allow_insecure))
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout), connector=connector)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._http is not None:
            await self._http.close()

    async def post(self, url: str, secret: str, webhook_id: str, body: bytes) -> tuple[int | None, str]:
        """(HTTP status, "") or (None, why the POST did not happen)."""
        refused = check_endpoint_url(url, self._allow_insecure)
        if refused:  # registered under other rules, or an address literal no resolver sees
            return None, f"endpoint refused: {refused[0][1]}"
        assert self._http is not None
        try:
            async with self._http.post(url, data=body, allow_redirects=False,  # a redirect must not re-aim it
                                       headers=headers(secret, webhook_id, int(time.time()), body)) as response:
                return response.status, ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"POST failed: {exc.__class__.__name__}"
        except Exception as exc:  # e.g. an unusable URL: counts as an attempt too
            return None, f"POST not possible: {exc.__class__.__name__}"


class Dispatcher:
    def __init__(self, transact: Transact, queue: DeliveryQueue, endpoints: EndpointRepository, clock: Clock, *,
                 timeout: float, max_attempts: int, allow_insecure_targets: bool):
        self._transact = transact
        self._queue = queue
        self._endpoints = endpoints
        self._clock = clock
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._allow_insecure = allow_insecure_targets
        self._next_due: datetime | None = None
        self.wake = asyncio.Event()

    async def rearm(self, case_id: str, types: tuple[str, ...] = ()) -> None:
        if await usecases.rearm(self._queue, self._clock, case_id, types, self._max_attempts):
            with bound_contextvars(case_id=case_id):
                log.info("deliveries_rearmed")
            self.wake.set()

    async def run(self) -> None:
        async with WebhookSender(self._timeout, self._allow_insecure) as sender:
            async def step() -> bool:
                self.wake.clear()
                if await self.dispatch_due(sender) > 0:
                    return True
                self._next_due = await usecases.next_due(self._queue)
                return False

            async def rest() -> None:
                # Capped: a lease or retry another replica wrote after the query (and
                # that replica then died) is still taken, within a minute.
                timeout = IDLE_RECHECK_SECONDS
                if self._next_due is not None:
                    timeout = min(timeout, max(0.0, (self._next_due - self._clock.now()).total_seconds()))
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=timeout)
                except TimeoutError:
                    pass

            await backoff.forever(step, rest)

    async def dispatch_due(self, sender: WebhookSender, limit: int = 50) -> int:
        tasks = []
        while len(tasks) < limit:
            # The lease outlives one POST (its timeout) with room to record the outcome.
            delivery = await usecases.claim_next(self._queue, self._clock, lease_seconds=self._timeout + 5)
            if delivery is None:
                break
            tasks.append(asyncio.create_task(self._send(sender, delivery)))
        await asyncio.gather(*tasks)
        return len(tasks)

    async def _send(self, sender: WebhookSender, delivery: Delivery) -> None:
        with bound_contextvars(case_id=delivery.case_id, delivery_id=delivery.delivery_id):
            endpoint = await self._endpoints.get(delivery.tenant_id)
            if endpoint is None:
                return await self._failed(delivery, "tenant has no webhook endpoint registered")
            started = time.perf_counter()
            status, error = await sender.post(endpoint.url, endpoint.secret, delivery.delivery_id, delivery.body)
            if status is None:
                return await self._failed(delivery, error)
            if not 200 <= status < 300:
                return await self._failed(delivery, f"receiver answered HTTP {status}")
            if not await usecases.record_delivered(self._transact, self._clock, delivery, status):
                log.warning("webhook_outcome_superseded", attempts=delivery.attempts)  # lease was taken over
                return
            metrics.DELIVERY_ATTEMPTS.labels("notify", delivery.channel, "delivered").inc()
            log.info("webhook_delivered", attempts=delivery.attempts, seconds=round(time.perf_counter() - started, 3))

    async def _failed(self, delivery: Delivery, error: str) -> None:
        outcome = await usecases.record_failed(self._queue, self._clock, delivery, error, self._max_attempts)
        metrics.DELIVERY_ATTEMPTS.labels("notify", delivery.channel, outcome).inc()
        log.warning("webhook_failed", attempt=delivery.attempts, error=error, gave_up=outcome == "dead")

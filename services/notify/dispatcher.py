"""Sends due webhook deliveries, with retries, and records the outcome.

A successful POST and the `opinion.delivered` event commit in one transaction.
A sender that dies mid-send leaves a lease that expires, and the delivery is
tried again: receivers drop the repeat by its stable webhook-id.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import aiohttp

from secondlook import metrics
from secondlook.clock import utcnow
from secondlook.events import new_event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.store import Store, UnitOfWork
from secondlook.v1 import events_pb2

from . import repository
from .domain.webhooks import check_endpoint_url, headers, retry_delay
from .targets import PublicOnlyResolver

log = get_logger(__name__)


class Dispatcher:
    def __init__(self, store: Store, *, timeout: float, max_attempts: int, allow_insecure_targets: bool,
                 poll_seconds: float = 0.5):
        self._store = store
        self._allow_insecure = allow_insecure_targets
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._poll = poll_seconds
        self.wake = asyncio.Event()

    async def rearm(self, case_id: str, types: tuple[str, ...] = ()) -> None:
        """A redrive of a case stuck before delivery: dead deliveries get another round
        of attempts, so a receiver that was down longer than one round still gets its notice."""
        if types and "opinion.delivered" not in types:
            return
        if await repository.rearm_dead(self._store.db, case_id, utcnow(), self._max_attempts):
            with bound_contextvars(case_id=case_id):
                log.info("deliveries_rearmed")
            self.wake.set()

    async def run(self) -> None:
        # Connections go only to addresses the resolver checked (targets.py).
        connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(self._allow_insecure))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout),
                                         connector=connector) as http:
            while True:
                self.wake.clear()
                try:
                    worked = await self.dispatch_due(http)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("dispatch_failed", error=repr(exc))
                    worked = 0
                if not worked:
                    try:
                        await asyncio.wait_for(self.wake.wait(), timeout=self._poll)
                    except TimeoutError:
                        pass

    async def dispatch_due(self, http: aiohttp.ClientSession, limit: int = 50) -> int:
        sent = 0
        tasks = []
        while len(tasks) < limit:
            # The lease outlives one POST (its timeout) with room to record the outcome.
            delivery = await repository.claim_due(self._store.db, utcnow(), lease_seconds=self._timeout + 5)
            if delivery is None:
                break
            tasks.append(asyncio.create_task(self._send(http, delivery)))
        for ok in await asyncio.gather(*tasks):
            sent += int(ok)
        return len(tasks)

    async def _send(self, http: aiohttp.ClientSession, delivery: dict) -> bool:
        with bound_contextvars(case_id=delivery["case_id"], delivery_id=delivery["_id"]):
            endpoint = await repository.endpoint_for(self._store.db, delivery["tenant_id"])
            if endpoint is None:
                return await self._failed(delivery, "tenant has no webhook endpoint registered")
            refused = check_endpoint_url(endpoint["url"], self._allow_insecure)
            if refused:  # registered under other rules, or an address literal aiohttp would not resolve
                return await self._failed(delivery, f"endpoint refused: {refused[0][1]}")
            body = bytes(delivery["body"])
            started = time.perf_counter()
            try:
                async with http.post(
                    endpoint["url"], data=body, allow_redirects=False,  # a redirect must not re-aim the POST
                    headers=headers(endpoint["secret"], delivery["_id"], int(time.time()), body),
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                return await self._failed(delivery, f"POST failed: {exc.__class__.__name__}")
            except Exception as exc:  # e.g. an unusable endpoint URL: counts as an attempt too
                return await self._failed(delivery, f"POST not possible: {exc!r}"[:300])
            if not 200 <= status < 300:
                return await self._failed(delivery, f"receiver answered HTTP {status}")

            async def delivered(uow: UnitOfWork) -> bool:
                if not await repository.mark_delivered(uow, delivery, utcnow(), status):
                    return False
                uow.emit(new_event(
                    events_pb2.OpinionDelivered(delivery_id=delivery["_id"], channel=delivery["channel"],
                                                attempts=delivery["attempts"]),
                    case_id=delivery["case_id"], tenant_id=delivery["tenant_id"], producer="notify",
                    traceparent=delivery.get("traceparent", ""), causation_id=delivery["event_id"],
                ))
                return True

            if not await self._store.transact(delivered):
                log.warning("webhook_outcome_superseded", attempts=delivery["attempts"])  # lease was taken over
                return False
            metrics.DELIVERY_ATTEMPTS.labels("notify", delivery["channel"], "delivered").inc()
            log.info("webhook_delivered", attempts=delivery["attempts"],
                     seconds=round(time.perf_counter() - started, 3))
            return True

    async def _failed(self, delivery: dict, error: str) -> bool:
        attempt = delivery["attempts"]
        next_at = None
        if attempt < delivery.get("attempt_budget", self._max_attempts):
            next_at = utcnow() + timedelta(seconds=retry_delay(attempt))
        await repository.mark_failed(self._store.db, delivery, next_at, error)
        outcome = "retrying" if next_at is not None else "dead"
        metrics.DELIVERY_ATTEMPTS.labels("notify", delivery["channel"], outcome).inc()
        log.warning("webhook_failed", attempt=attempt, error=error, gave_up=next_at is None)
        return False

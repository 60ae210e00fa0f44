"""Finds cases whose status has not moved for too long and re-drives them.

Re-driving publishes a redrive request; every service answers it by
re-publishing what its outbox holds for the case, so events a broker lost are
sent again and idempotent consumers drop the ones that had arrived. The wait
doubles after each redrive of the same stage, so a case legitimately waiting
on a person costs little.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from secondlook import metrics
from secondlook.clock import utcnow
from secondlook.events import new_event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.store import Store, UnitOfWork
from secondlook.v1 import events_pb2

from . import repository

log = get_logger(__name__)

MAX_BACKOFF_DOUBLINGS = 6


class Sweeper:
    def __init__(self, store: Store, interval: float, stuck_after: float):
        self._store = store
        self._interval = interval
        self._stuck_after = stuck_after

    async def sweep_once(self) -> int:
        now = utcnow()
        redriven = 0
        for case in await repository.due_for_redrive(self._store.db, now):
            stuck_for = int((now - case["updated_at"]).total_seconds())
            doublings = min(case.get("redrives", 0) + 1, MAX_BACKOFF_DOUBLINGS)
            next_at = now + timedelta(seconds=self._stuck_after * 2**doublings)

            async def redrive(uow: UnitOfWork, case=case, next_at=next_at, stuck_for=stuck_for) -> bool:
                if not await repository.mark_redriven(uow, case, next_at):
                    return False  # the case moved, or another replica got there first
                uow.emit(
                    new_event(
                        events_pb2.RedriveRequested(stuck_in=case["status"], stuck_for_seconds=stuck_for),
                        case_id=case["_id"], tenant_id=case["tenant_id"], producer="intake",
                        traceparent=case.get("traceparent", ""),
                    )
                )
                return True

            with bound_contextvars(case_id=case["_id"]):
                if await self._store.transact(redrive):
                    redriven += 1
                    metrics.REDRIVE_REQUESTS.labels("intake").inc()
                    log.info("case_redriven", stuck_for_seconds=stuck_for)
        return redriven

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sweep_failed", error=repr(exc))
            await asyncio.sleep(self._interval)

"""Finds cases stuck in a stage the system owns and re-drives them.

Only SUBMITTED, MATCHING and OPINION_READY are swept (domain/lifecycle.py):
stages that wait on a person belong to SLA clocks. Re-driving publishes a
redrive request naming the events that move the case on; the services that
hold such events re-publish them, and idempotent consumers drop the ones that
had arrived. A sweep reads only the cases that are due (an index on
`next_redrive_at`), re-drives at most `max_per_sweep` of them in one
transaction, and each case's wait doubles after every redrive of the same
stage. It is safe on every replica: a compare-and-set on each case lets one
sweep win it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from secondlook import backoff, metrics
from secondlook.clock import Clock
from secondlook.events import new_event
from secondlook.logging import get_logger
from secondlook.store import Store, UnitOfWork
from secondlook.v1 import events_pb2

from . import repository
from .domain.lifecycle import REDRIVE_REPUBLISH, status_name

log = get_logger(__name__)

MAX_BACKOFF_DOUBLINGS = 6


class Sweeper:
    def __init__(self, store: Store, *, interval: float, stuck_after: float, max_per_sweep: int,
                 clock: Clock | None = None):
        self._store = store
        self._interval = interval
        self._stuck_after = stuck_after
        self._max = max_per_sweep
        self._clock = clock or Clock()

    async def sweep_once(self) -> int:
        """Re-drives the cases due now (at most `max_per_sweep`); returns how many."""
        now = self._clock.now()
        due = await repository.due_for_redrive(self._store.db, now, self._max)
        if not due:
            return 0

        async def redrive(uow: UnitOfWork) -> list[dict]:
            redriven = []
            for case in due:
                doublings = min(case.get("redrives", 0) + 1, MAX_BACKOFF_DOUBLINGS)
                next_at = now + timedelta(seconds=self._stuck_after * 2**doublings)
                if not await repository.mark_redriven(uow, case, next_at):
                    continue  # the case moved, or another replica got there first
                uow.emit(new_event(
                    events_pb2.RedriveRequested(
                        stuck_in=case["status"],
                        stuck_for_seconds=int((now - case["updated_at"]).total_seconds()),
                        republish_types=REDRIVE_REPUBLISH[case["status"]],
                    ),
                    case_id=case["_id"], tenant_id=case["tenant_id"], producer="intake",
                    traceparent=case.get("traceparent", ""),
                ))
                redriven.append(case)
            return redriven

        redriven = await self._store.transact(redrive)
        for case in redriven:
            metrics.REDRIVE_REQUESTS.labels("intake").inc()
            log.info("case_redriven", case_id=case["_id"], stuck_in=status_name(case["status"]),
                     redrives=case.get("redrives", 0) + 1)
        return len(redriven)

    async def run(self) -> None:
        async def step() -> bool:
            await self.sweep_once()
            return False  # never straight again: at most max_per_sweep per interval

        await backoff.forever(step, lambda: asyncio.sleep(self._interval))

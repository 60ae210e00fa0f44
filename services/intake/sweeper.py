"""The sweeper's loop (an entry point): every interval, one sweep (usecases.sweep).

Only SUBMITTED, MATCHING and OPINION_READY are swept (domain/lifecycle.py):
stages that wait on a person belong to SLA clocks. A redrive request names
the events that move the case on; the services that hold such events
re-publish them, and idempotent consumers drop the ones that had arrived. A
sweep reads only the cases that are due (an index on `next_redrive_at`) and
re-drives at most `max_per_sweep` of them; each case's wait doubles after
every redrive of the same stage. It is safe on every replica: a
compare-and-set on each case lets one sweep win it.
"""

from __future__ import annotations

import asyncio

from secondlook import backoff, metrics
from secondlook.clock import Clock
from secondlook.logging import get_logger
from secondlook.unitofwork import Transact

from . import usecases
from .domain.lifecycle import status_name
from .repository import CaseReader

log = get_logger(__name__)


class Sweeper:
    def __init__(self, transact: Transact, reader: CaseReader, *, interval: float, stuck_after: float,
                 max_per_sweep: int, clock: Clock | None = None):
        self._transact = transact
        self._reader = reader
        self._interval = interval
        self._stuck_after = stuck_after
        self._max = max_per_sweep
        self._clock = clock or Clock()

    async def sweep_once(self) -> int:
        redriven = await usecases.sweep(self._transact, self._reader, self._clock, stuck_after=self._stuck_after,
                                        max_per_sweep=self._max)
        for case in redriven:
            metrics.REDRIVE_REQUESTS.labels("intake").inc()
            log.info("case_redriven", case_id=case.case_id, stuck_in=status_name(case.status),
                     redrives=case.redrives + 1)
        return len(redriven)

    async def run(self) -> None:
        async def step() -> bool:
            await self.sweep_once()
            return False  # never straight again: at most max_per_sweep per interval

        await backoff.forever(step, lambda: asyncio.sleep(self._interval))

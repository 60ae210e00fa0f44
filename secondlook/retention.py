"""Retention: the outbox and the processed-event markers do not grow without bound.

Published outbox rows and markers older than
`retention_grace_seconds` are deleted, a few requests an interval whatever the
volume. That can never make an old event count as new, because the consumer
refuses any event older than the grace less a margin (`IdempotentConsumer`,
"stale"): an event whose marker may be gone is old enough to be refused
before its marker is looked for. A case past the grace period has long left
the stages the sweeper re-drives, so nothing it would still need is deleted.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from secondlook import backoff
from secondlook.clock import Clock
from secondlook.logging import get_logger
from secondlook.store import OUTBOX, PROCESSED, Store

log = get_logger(__name__)

# Clock skew between the service that stamped an event and the one reading it.
STALE_MARGIN = timedelta(hours=1)


def stale_after(grace_seconds: float) -> timedelta:
    """Events older than this are refused: their markers may already be deleted."""
    return timedelta(seconds=grace_seconds) - STALE_MARGIN


class Retention:
    def __init__(self, store: Store, *, grace_seconds: float, interval_seconds: float, clock: Clock | None = None):
        self._store = store
        self._grace = timedelta(seconds=grace_seconds)
        self._interval = interval_seconds
        self._clock = clock or Clock()

    async def prune_once(self) -> dict[str, int]:
        """Deletes what is past the grace period; returns how many of each."""
        cutoff = self._clock.now() - self._grace
        db = self._store.db
        outbox = await db[OUTBOX].delete_many({"published": True, "published_at": {"$lt": cutoff}})
        markers = await db[PROCESSED].delete_many({"at": {"$lt": cutoff}})
        pruned = {"outbox": outbox.deleted_count, "markers": markers.deleted_count}
        if any(pruned.values()):
            log.info("retention_pruned", **pruned)
        return pruned

    async def run(self) -> None:
        async def step() -> bool:
            await self.prune_once()
            return False

        await backoff.forever(step, lambda: asyncio.sleep(self._interval))

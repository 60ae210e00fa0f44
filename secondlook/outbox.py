"""The one outbox relay: takes committed events from MongoDB to Kafka.

Events are marked published only after the broker acknowledged them, so a crash
between the two publishes them again on restart; consumers are idempotent, so
relaying twice is harmless. `requeue(case_id)` marks a case's events
unpublished again: that is how a case whose events a broker lost is re-driven.

With several replicas, each relays only the shards it owns: the partitions of
the redrive topic (which every service consumes) its consumer holds. A case's
events map to one shard, so one relay publishes them, in the order of the
case's sequence, and each once: ordering holds by construction, with no lease
to renew and no store traffic to coordinate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from secondlook import backoff, metrics
from secondlook.bus import KafkaPublisher, Record
from secondlook.clock import utcnow
from secondlook.logging import get_logger
from secondlook.store import OUTBOX, Store

log = get_logger(__name__)

BATCH = 500


class OutboxRelay:
    def __init__(self, store: Store, publisher: KafkaPublisher, poll_seconds: float, on_failure=None):
        self._store = store
        self._publisher = publisher
        self._poll = poll_seconds
        # Called after a failed publish (e.g. to ensure topics again after a broker restart).
        self._on_failure = on_failure
        self.published = 0
        # The shards this replica relays; None relays every shard (no consumer group).
        self.owned_shards: Callable[[], set[int] | None] = lambda: None
        # Liveness: the monotonic time the relay last went round.
        self.last_cycle = time.monotonic()

    async def relay_once(self) -> int:
        """Publishes one batch of unpublished events; returns how many."""
        outbox = self._store.db[OUTBOX]
        query: dict = {"published": False}
        owned = self.owned_shards()
        if owned is not None:
            if not owned:
                return 0  # not (yet) in the group: another replica relays
            query["shard"] = {"$in": sorted(owned)}
        # _id sorts by case, then by the case's sequence: a batch cut never
        # leaves an earlier event of a case behind a later one.
        docs = await outbox.find(query).sort("_id", 1).limit(BATCH).to_list()
        if not docs:
            metrics.OUTBOX_BACKLOG.labels(self._store.service).set(0)
            return 0
        await self._publisher.publish(
            [
                Record(
                    topic=d["topic"],
                    key=d["case_id"].encode(),
                    value=d["payload"],
                    headers=[(k, bytes(v)) for k, v in d["headers"]],
                )
                for d in docs
            ]
        )
        await outbox.update_many(
            {"_id": {"$in": [d["_id"] for d in docs]}},
            {"$set": {"published": True, "published_at": utcnow()}},
        )
        self.published += len(docs)
        metrics.OUTBOX_PUBLISHED.labels(self._store.service).inc(len(docs))
        # Counting costs the store a query: only worth it when the batch was full.
        backlog = await outbox.count_documents(query) if len(docs) == BATCH else 0
        metrics.OUTBOX_BACKLOG.labels(self._store.service).set(backlog)
        return len(docs)

    async def run(self) -> None:
        async def step() -> bool:
            self.last_cycle = time.monotonic()
            self._store.outbox_written.clear()
            try:
                return await self.relay_once() == BATCH  # a full batch: more may be waiting
            except Exception:
                if self._on_failure is not None:
                    try:
                        await self._on_failure()
                    except Exception as inner:
                        log.warning("outbox_recovery_failed", error=type(inner).__name__)
                raise

        async def rest() -> None:
            try:
                await asyncio.wait_for(self._store.outbox_written.wait(), timeout=self._poll)
            except TimeoutError:
                pass

        await backoff.forever(step, rest)


async def requeue(store: Store, case_id: str, types: list[str] | tuple[str, ...] = ()) -> int:
    """Marks the case's events of these types (all, when empty) unpublished again;
    returns how many.

    Redrive requests themselves are never re-queued: the service that sent one
    also answers it, and re-sending it would re-drive the case forever.
    """
    query: dict = {"case_id": case_id, "published": True, "type": {"$ne": "redrive.requested"}}
    if types:
        query["type"] = {"$in": [t for t in types if t != "redrive.requested"]}
    result = await store.db[OUTBOX].update_many(query, {"$set": {"published": False}})
    if result.modified_count:
        metrics.REDRIVES.labels(store.service).inc()
        store.outbox_written.set()
    return result.modified_count


async def requeue_all(store: Store) -> int:
    """After the broker lost everything: every event still in the outbox is
    published again (consumers drop what they had); redrive requests excepted."""
    result = await store.db[OUTBOX].update_many(
        {"published": True, "type": {"$ne": "redrive.requested"}}, {"$set": {"published": False}}
    )
    if result.modified_count:
        log.warning("outbox_requeued_after_broker_reset", events=result.modified_count)
        store.outbox_written.set()
    return result.modified_count

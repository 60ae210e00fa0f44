"""The one outbox relay: takes committed events from MongoDB to Kafka.

Publishing happens from memory: `Store.transact` hands the relay the outbox
rows of every commit, and the relay publishes them at once, in the order this
process saw the commits, every waiting commit's rows in one producer flush. A
transaction returns once its events are on the broker (or after
`store.PUBLISH_WAIT` seconds, if the broker is slow: they stay queued and go out
when it is back): so a client's next command, on any replica, is published
after the events of the one before.

Each commit writes its rows already marked published, and beside them, in the
same request, a receipt listing them: "not confirmed on the broker yet". Once
they are, the relay deletes the receipt; the receipts of a busy half second go
in one request (`MARK_INTERVAL`). One delete per commit, where marking each row
cost the store an update per event, the largest single cost of a submit.

The outbox collection is read only as a safety net, by a scan: at start (a
predecessor may have died between commit and publish), when it gains shards
(their owner may have), after a redrive or a broker reset re-queued events
(`requeue`, `requeue_all`: rows marked unpublished again), and after a
transaction failed in a way that may have left a commit behind. It publishes the
unpublished rows and the rows of every receipt left behind, of the shards this
replica owns, and then marks the rows and deletes (or trims) the receipts. A
scan takes only what is older than a few seconds (younger ones are being
published from memory by whoever committed them; it looks again once they are
older). With nothing to do the relay sends the store nothing.

A shard is a partition of the redrive topic (which every service consumes); a
case's events map to one. A scan publishes what it takes sorted by case and
sequence, and takes receipts oldest first, so a case's events go out in order
(a case's next commit writes its receipt after the one before committed; across
replicas, that holds as far as their clocks agree). Events count as published
only after the broker acknowledged them, so a crash in between publishes them
again; consumers are idempotent, so relaying twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from secondlook import backoff, metrics
from secondlook.bus import KafkaPublisher, Record
from secondlook.clock import utcnow
from secondlook.logging import get_logger
from secondlook.store import OUTBOX, RECEIPT_SHARD, RECEIPTS_FROM, RECEIPTS_TO, Store, receipt_id_bound, rows_of_case

log = get_logger(__name__)

BATCH = 500  # rows per scan request
RECEIPT_BATCH = 200  # receipts per scan request
# A scan leaves rows younger than this alone (and looks again once they are older):
# whoever committed them is publishing them from memory, and publishing them
# here too would send them twice.
SCAN_GRACE_SECONDS = 5.0
MEMORY_LIMIT = 20_000  # rows held for publishing; past it, the oldest are left to a scan
# Receipts of published commits wait this long to be deleted, so that one request
# deletes many. A crash before it publishes them again (consumers are idempotent);
# a scan leaves them alone meanwhile (SCAN_GRACE_SECONDS is longer).
MARK_INTERVAL = 0.5
MARK_BATCH = 1_000  # deleted at once when this many are waiting
STOP_MARK_SECONDS = 2.0  # how long a stopping relay tries to delete its last receipts


def _record(row: dict) -> Record:
    return Record(topic=row["topic"], key=row["case_id"].encode(), value=row["payload"],
                  headers=[(k, bytes(v)) for k, v in row["headers"]])


class OutboxRelay:
    def __init__(self, store: Store, publisher: KafkaPublisher, poll_seconds: float, on_failure=None,
                 scan_grace_seconds: float = SCAN_GRACE_SECONDS):
        self._store = store
        self._grace = timedelta(seconds=scan_grace_seconds)
        self._publisher = publisher
        self._poll = poll_seconds
        # Called after a failed publish (e.g. to ensure topics again after a broker restart).
        self._on_failure = on_failure
        self.published = 0
        # The shards this replica relays; None relays every shard (no consumer group).
        self.owned_shards: Callable[[], set[int] | None] = lambda: None
        # Liveness: the monotonic time the relay last went round.
        self.last_cycle = time.monotonic()
        # Committed rows not yet on the broker, in commit order, with each commit's
        # receipt and waiter.
        self._queue: deque[tuple[list[dict], str, asyncio.Future]] = deque()
        self._queued_rows = 0
        self._queued_at: deque[float] = deque()  # when each queued commit came (monotonic)
        # Receipts of commits now on the broker, not yet deleted, and since when (monotonic).
        self._unmarked: list[str] = []
        self._unmarked_since = 0.0
        # A scan's place among the receipts it left (other replicas' shards), and
        # whether its last round was cut short by a batch limit.
        self._receipts_after: str | None = None
        self._more = False
        # The owned shards the last scan covered.
        self._scanned: set[int] = set()
        # Over MEMORY_LIMIT: commits are not queued until a scan of every shard ran.
        self._paused = False
        self._paused_since = 0.0
        # A receipt's deletion and a broker-reset requeue never interleave: one landing
        # after the requeue would hide events the lost broker took with it.
        self._marking = asyncio.Lock()
        # Counts broker resets: a publish or scan that began before one marks nothing.
        self._resets = 0

    # --- from memory ---------------------------------------------------------------
    def enqueue(self, rows: list[dict], receipt: str) -> asyncio.Future:
        """Store.transact's hook: queues a commit's rows; the future is done once the
        broker has them (or once they are left to a scan, by their receipt)."""
        done = asyncio.get_running_loop().create_future()
        if self._paused:  # the rows are durable: the scan that ends the pause publishes them, in order
            done.set_result(None)
            return done
        self._queue.append((rows, receipt, done))
        self._queued_at.append(time.monotonic())
        self._queued_rows += len(rows)
        if self._queued_rows > MEMORY_LIMIT:
            # The broker has been away for long: hold nothing more in memory. Everything
            # queued is left to one scan of every shard, and commits go to memory again
            # only once it runs, so a case's events still go out in order.
            for _, _, waiter in self._queue:
                waiter.set_result(None)
            self._queue.clear()
            self._queued_at.clear()
            self._queued_rows = 0
            self._paused, self._paused_since = True, time.monotonic()
            self._store.request_scan(every_shard=True)
        self._store.outbox_written.set()
        return done

    def oldest_waiting_seconds(self) -> float:
        """How long the oldest commit not yet on the broker has waited: in memory, or
        left to the scan that ends a pause (past MEMORY_LIMIT); 0 when none waits."""
        if self._paused:
            return time.monotonic() - self._paused_since
        return time.monotonic() - self._queued_at[0] if self._queued_at else 0.0

    async def _publish_queued(self) -> int:
        """Publishes every queued commit's rows in one producer flush; returns how many rows."""
        taken = list(self._queue)
        rows = [row for batch, _, _ in taken for row in batch]
        resets = self._resets
        await self._publisher.publish([_record(r) for r in rows])
        for item in taken:  # commits queued meanwhile stay for the next round
            if self._queue and self._queue[0] is item:
                self._queue.popleft()
                self._queued_at.popleft()
                self._queued_rows -= len(item[0])
        for _, _, waiter in taken:
            if not waiter.done():
                waiter.set_result(None)
        if resets == self._resets:  # else the broker that took them is gone: the scan sends them again
            if not self._unmarked:
                self._unmarked_since = time.monotonic()
            self._unmarked.extend(receipt for _, receipt, _ in taken)
        self.published += len(rows)
        metrics.OUTBOX_PUBLISHED.labels(self._store.service).inc(len(rows))
        return len(rows)

    def _mark_due_in(self) -> float:
        """Seconds until the waiting marks are due (0: now; inf: none wait)."""
        if not self._unmarked:
            return float("inf")
        if len(self._unmarked) >= MARK_BATCH:
            return 0.0
        return max(0.0, self._unmarked_since + MARK_INTERVAL - time.monotonic())

    async def _mark(self) -> None:
        """One request deletes the receipts of every commit published since the last one."""
        async with self._marking:
            ids, self._unmarked = self._unmarked, []
            if not ids:
                return
            try:
                await self._store.db[OUTBOX].delete_many({"_id": {"$in": ids}})
            except BaseException:
                self._unmarked = ids + self._unmarked
                raise

    async def requeue_all(self) -> int:
        """After the broker lost everything: every event still in the outbox is
        published again (consumers drop what they had), redrive requests excepted;
        returns how many rows were marked published and are queued again.

        Receipts waiting to be deleted stay (their rows go out again with the
        scan), and a publish under way deletes none: the broker that acknowledged it
        may be the one that was lost."""
        async with self._marking:
            self._resets += 1
            self._unmarked = []
            result = await self._store.db[OUTBOX].update_many(
                {"published": True, "type": {"$ne": "redrive.requested"}}, {"$set": {"published": False}})
        log.warning("outbox_requeued_after_broker_reset", events=result.modified_count)
        self._store.request_scan(every_shard=True)
        return result.modified_count

    # --- the safety net ------------------------------------------------------------
    def _scan_wanted(self) -> bool:
        """A scan is due: asked for, or this replica holds shards it has not scanned."""
        owned = self.owned_shards()
        if owned is not None:
            self._scanned &= owned  # a shard lost and gained again is scanned again
            if owned - self._scanned:
                self._store.scan_needed = True
        return self._store.scan_needed

    async def relay_once(self, grace: timedelta | None = None, every_shard: bool | None = None) -> int:
        """The scan: publishes one batch of the owned shards' unpublished rows and of
        the rows of receipts left behind; returns how many rows. `every_shard`: all
        shards, not only the owned ones (default: as the store asks)."""
        outbox = self._store.db[OUTBOX]
        every = self._store.scan_every_shard if every_shard is None else every_shard
        owned = None if every else self.owned_shards()
        self._more = False
        if owned is not None and not owned:
            return 0  # not (yet) in the group: another replica relays
        shards = {"$in": sorted(owned)} if owned is not None else {"$gte": 0}
        grace = self._grace if grace is None else grace
        cutoff = utcnow() - grace
        # _id sorts rows by case, then by the case's sequence: a batch cut never
        # leaves an earlier event of a case behind a later one.
        rows = await outbox.find({"published": False, "shard": shards, "created_at": {"$lt": cutoff}}) \
            .sort("_id", 1).limit(BATCH).to_list()
        receipts: list[dict] = []
        if len(rows) < BATCH:
            # Receipts only once every unpublished row is in hand: after a requeue a
            # receipt may list a case's later event while its earlier ones wait as rows.
            # Oldest first (their _id begins with their time; bounded by it, not by
            # created_at: one range, which the embedded store's index can serve).
            receipts = await outbox.find({"published": False, "shard": RECEIPT_SHARD, "_id": {
                "$gt": self._receipts_after or RECEIPTS_FROM, "$lt": receipt_id_bound(cutoff)}}) \
                .sort("_id", 1).limit(RECEIPT_BATCH).to_list()
            self._receipts_after = receipts[-1]["_id"] if len(receipts) == RECEIPT_BATCH else None
        self._more = len(rows) == BATCH or len(receipts) == RECEIPT_BATCH
        if not self._more and grace and await self._younger_waiting(shards, cutoff):
            # Too young to take now: look again once they are old enough (every shard,
            # if this scan was of every shard: a commit of ours may sit in another's).
            asyncio.get_running_loop().call_later(
                grace.total_seconds(), lambda: self._store.request_scan(every_shard=every))

        # The receipts' rows of the owned shards (a receipt may list others' too).
        covered = {r["_id"]: [e for e in r["rows"] if owned is None or e["shard"] in owned] for r in receipts}
        wanted = [e["id"] for entries in covered.values() for e in entries]
        found = await outbox.find({"_id": {"$in": wanted}}).to_list() if wanted else []
        if len(found) < len(wanted):  # retention took them: older than any consumer still takes
            log.warning("outbox_receipt_rows_missing", missing=len(wanted) - len(found))
        docs = sorted({d["_id"]: d for d in [*rows, *found]}.values(), key=lambda d: d["_id"])
        resets = self._resets
        if docs:
            await self._publisher.publish([_record(d) for d in docs])
        async with self._marking:
            if resets == self._resets:  # else the broker that took them is gone: the next scan sends them again
                unpublished = [d["_id"] for d in docs if not d.get("published")]
                if unpublished:
                    await outbox.update_many({"_id": {"$in": unpublished}},
                                             {"$set": {"published": True, "published_at": utcnow()}})
                await self._settle(receipts, covered)
        if docs:
            self.published += len(docs)
            metrics.OUTBOX_PUBLISHED.labels(self._store.service).inc(len(docs))
        return len(docs)

    async def _younger_waiting(self, shards: dict, cutoff) -> bool:
        """Whether unpublished rows or receipts younger than the scan's cutoff wait."""
        outbox = self._store.db[OUTBOX]
        return bool(await outbox.find_one({"published": False, "shard": shards, "created_at": {"$gte": cutoff}},
                                          projection={"_id": 1})
                    or await outbox.find_one({"published": False, "shard": RECEIPT_SHARD, "_id": {
                        "$gte": receipt_id_bound(cutoff), "$lt": RECEIPTS_TO}}, projection={"_id": 1}))

    async def _settle(self, receipts: list[dict], covered: dict[str, list[dict]]) -> None:
        """Deletes the receipts whose rows are all published now; takes the published
        ones off the others (they list rows of shards another replica owns)."""
        outbox = self._store.db[OUTBOX]
        whole = [r["_id"] for r in receipts if len(covered[r["_id"]]) == len(r["rows"])]
        if whole:
            await outbox.delete_many({"_id": {"$in": whole}})
        partly = [r for r in receipts if covered[r["_id"]] and len(covered[r["_id"]]) < len(r["rows"])]
        for receipt in partly:  # the rare case: replicas that died, their shards spread over others
            await outbox.update_one({"_id": receipt["_id"]}, {"$pull": {"rows": {"id": {"$in": [
                e["id"] for e in covered[receipt["_id"]]]}}}})
        if partly:
            await outbox.delete_many({"_id": {"$in": [r["_id"] for r in partly]}, "rows": {"$size": 0}})

    async def _scan(self) -> None:
        self._store.scan_needed = False
        # Taken now: a request for every shard made while this scan runs is kept for the next.
        every, self._store.scan_every_shard = self._store.scan_every_shard, False
        # Ending a pause, the rows committed during it must all go out before the
        # commits from now on, which go to memory again: no grace for them.
        was_paused = self._paused
        grace = timedelta(0) if was_paused else None
        self._paused = False
        owned = self.owned_shards()
        self._receipts_after = None
        try:
            await self.relay_once(grace, every)
            while self._more:
                await self.relay_once(grace, every)
        except BaseException:
            self._store.scan_needed = True
            self._store.scan_every_shard = self._store.scan_every_shard or every
            # Still paused: commits stay out of memory until a scan took the paused ones.
            self._paused = self._paused or was_paused
            raise
        finally:
            self._receipts_after = None
        self._scanned = set(owned or ())

    async def run(self) -> None:
        self._store.on_commit = self.enqueue
        # Read when scraped: a publish blocked on an unreachable broker shows its rows.
        metrics.OUTBOX_BACKLOG.labels(self._store.service).set_function(lambda: self._queued_rows)
        metrics.OUTBOX_OLDEST_SECONDS.labels(self._store.service).set_function(self.oldest_waiting_seconds)
        self._store.request_scan(every_shard=True)  # at start: what a predecessor left, in any shard

        async def step() -> bool:
            self.last_cycle = time.monotonic()
            self._store.outbox_written.clear()
            try:
                if self._queue:
                    await self._publish_queued()
                if self._mark_due_in() == 0:
                    await self._mark()
                if self._scan_wanted():
                    await self._scan()
            except Exception:
                if self._on_failure is not None:
                    try:
                        await self._on_failure()
                    except Exception as inner:
                        log.warning("outbox_recovery_failed", error=type(inner).__name__)
                raise
            return bool(self._queue) or self._mark_due_in() == 0

        async def rest() -> None:
            try:
                await asyncio.wait_for(self._store.outbox_written.wait(),
                                       timeout=min(self._poll, self._mark_due_in()))
            except TimeoutError:
                pass

        try:
            await backoff.forever(step, rest)
        finally:
            self._store.on_commit = None
            for _, _, waiter in self._queue:  # durable in the outbox: the next start's scan takes them
                if not waiter.done():
                    waiter.set_result(None)
            if self._unmarked:  # stopping: delete what went out's receipts, or the next start sends it again
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(self._mark(), STOP_MARK_SECONDS)


async def requeue(store: Store, case_id: str, types: list[str] | tuple[str, ...] = ()) -> int:
    """Marks the case's events of these types (all, when empty) unpublished again;
    returns how many.

    Redrive requests themselves are never re-queued: the service that sent one
    also answers it, and re-sending it would re-drive the case forever.
    """
    query: dict = {**rows_of_case(case_id), "published": True, "type": {"$ne": "redrive.requested"}}
    if types:
        query["type"] = {"$in": [t for t in types if t != "redrive.requested"]}
    result = await store.db[OUTBOX].update_many(query, {"$set": {"published": False}})
    if result.modified_count:
        metrics.REDRIVES.labels(store.service).inc()
        store.request_scan()
    return result.modified_count

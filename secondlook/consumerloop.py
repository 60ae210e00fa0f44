"""The one consumer loop (kafka-python), shared by all four services.

Polling never waits on event handling:
- the poll loop only fetches, hands records out, pauses and resumes
  partitions, and commits; it calls `poll` every few hundred milliseconds
  whatever the handlers are doing, so a slow or failing event can never make
  the member overrun its poll interval and leave its group;
- records are handed to one lane per key (case id): one case's records are
  handled in order and never two at once, different cases together: the head
  records of the lanes are gathered into batches that the consumer applies in
  as few store requests as it can (group commit), at most
  `consumer_max_concurrency` batches at a time. A record arriving at an idle
  consumer is a batch of one, handled at once; under load a batch holds
  whatever arrived while the batches before it were applied (at most MAX_BATCH);
  a consumer that folds a case's events into one write (intake's projection:
  `fold_case_records`) is handed all of a lane's waiting records at once, in
  order, in one batch, so a case that fell behind catches up in one write; it
  lets a case's records gather for `consumer_fold_linger_seconds` first (the
  stages of a moving case come tens of milliseconds apart);
- offsets are committed in order: never past a record still being handled
  (`OffsetTracker`), so a crash re-reads, and idempotency drops, what was done;
- a partition with too many records in hand is paused, and so is a partition
  whose record is waiting for an unreachable store: its lane waits for the
  store, the cases already handed out go on, and the member keeps polling
  (fetching nothing for what is paused) and keeps its partitions.
A partition taken away by a rebalance is dropped from the books at once; its
records not yet started are skipped, as the new owner reads them again.

A broker that restarted empty (EMBEDDED_INFRA.md) shows here first: a
partition hands out offsets below the one this member had committed on it.
Nothing else can make offsets go back, so the loop calls `on_broker_reset`
(once per reset): the service re-publishes its outbox, since whatever the
broker held and nobody had consumed is gone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import MemberState

from secondlook import backoff, metrics
from secondlook.bus import consumer_config
from secondlook.consumer import IdempotentConsumer, Incoming, StoreUnavailable
from secondlook.groups import Groups
from secondlook.logging import get_logger
from secondlook.settings import Settings

log = get_logger(__name__)

POLL_TIMEOUT_MS = 200
MAX_BATCH = 100  # lanes' records applied together
FOLD_MAX = 10  # records of one case handed over together, where the consumer folds them


class OffsetTracker:
    """Per partition, the offsets handed out and not yet done. What may be
    committed is the lowest offset still in hand (everything below it is done),
    or one past the highest offset seen when nothing is in hand."""

    def __init__(self) -> None:
        self._pending: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def add(self, tp: TopicPartition, offset: int) -> None:
        self._pending.setdefault(tp, set()).add(offset)
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def done(self, tp: TopicPartition, offset: int) -> None:
        pending = self._pending.get(tp)
        if pending is not None:
            pending.discard(offset)

    def in_hand(self, tp: TopicPartition) -> int:
        return len(self._pending.get(tp, ()))

    def done_below(self, tp: TopicPartition) -> int | None:
        """The offset below which every record is done, or None before any was seen."""
        pending = self._pending.get(tp)
        return min(pending) if pending else self._next.get(tp)

    def forget(self, tp: TopicPartition) -> None:
        self._pending.pop(tp, None)
        self._next.pop(tp, None)
        self._committed.pop(tp, None)

    def committable(self) -> dict[TopicPartition, int]:
        """The offset to commit per partition, for partitions that moved since the last `mark_committed`."""
        out = {}
        for tp in self._next:
            position = self.done_below(tp)
            if position > self._committed.get(tp, -1):
                out[tp] = position
        return out

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, position in offsets.items():
            if tp in self._next:
                self._committed[tp] = max(self._committed.get(tp, -1), position)


class _Rebalances(ConsumerRebalanceListener):
    """Runs on kafka-python's own I/O thread: only records what changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revoked: set[TopicPartition] = set()

    def on_partitions_revoked(self, revoked) -> None:
        with self._lock:
            self._revoked |= set(revoked)

    def on_partitions_assigned(self, assigned) -> None:
        pass

    def on_partitions_lost(self, lost) -> None:
        self.on_partitions_revoked(lost)

    def take_revoked(self) -> set[TopicPartition]:
        with self._lock:
            revoked, self._revoked = self._revoked, set()
        return revoked


class ConsumerLoop:
    def __init__(self, settings: Settings, consumer: IdempotentConsumer, topics: Iterable[str], group: str,
                 on_broker_reset: Callable[[], Awaitable[object]] | None = None,
                 max_concurrency: int | None = None, fold_case_records: bool = False):
        self._settings = settings
        self._fold = FOLD_MAX if fold_case_records else 1
        self._linger = settings.consumer_fold_linger_seconds if fold_case_records else 0.0
        self._on_broker_reset = on_broker_reset
        # The highest offset this member committed per partition, kept across
        # rebalances (another owner only commits further).
        self._high_water: dict[TopicPartition, int] = {}
        self._topic_ids: dict[str, object] = {}
        self._consumer = consumer
        self._topics = list(topics)
        self._group = group
        self._tracker = OffsetTracker()
        self._lanes: dict[object, deque] = {}
        self._tasks: set[asyncio.Task] = set()
        # A partition's epoch moves on when it is revoked: records handed out
        # before that are skipped, since the partition's new owner reads them again.
        self._epoch: dict[TopicPartition, int] = {}
        # Partitions with a record waiting for the store, and how many.
        self._waiting_on_store: dict[TopicPartition, int] = {}
        self._rebalances = _Rebalances()
        self._batches = Groups(self._handle_batch, max_concurrency or settings.consumer_max_concurrency, MAX_BATCH)
        self._kafka: KafkaConsumer | None = None
        self._polling: asyncio.Future | None = None  # the poll under way in its thread
        self._lag_topics: set[str] = set()  # the topics whose lag this member last set
        # Liveness: the monotonic time of the last completed poll.
        self.last_poll = time.monotonic()
        self._assigned: frozenset[TopicPartition] = frozenset()

    def owned(self, topic: str) -> set[int]:
        """The partitions of `topic` this member holds now (the relay's shards)."""
        return {tp.partition for tp in self._assigned if tp.topic == topic}

    @property
    def joined(self) -> bool:
        kafka = self._kafka
        return kafka is not None and kafka.group_metadata().state is MemberState.STABLE

    @property
    def in_group(self) -> bool:
        """Readiness: joined, and its group's coordinator known. kafka-python keeps a
        member STABLE after marking a coordinator that stopped answering dead, until it
        rejoins; meanwhile it can neither commit nor hold its partitions. (Not `joined`,
        which the loop reads for its assignment: a coordinator lost for an instant must
        not look like partitions lost.)"""
        coordinator = getattr(self._kafka, "_coordinator", None)
        if not hasattr(coordinator, "coordinator_id"):  # a kafka-python that keeps it elsewhere: joined is all we know
            return self.joined
        return self.joined and coordinator.coordinator_id is not None

    def _connect(self) -> KafkaConsumer:
        kafka = KafkaConsumer(**consumer_config(self._settings, self._group))
        kafka.subscribe(self._topics, listener=self._rebalances)
        return kafka

    async def run(self) -> None:
        backoff.name_retries(f"{type(self).__name__}.run({self._group})")
        self._kafka = kafka = await asyncio.to_thread(self._connect)
        interval = self._settings.consumer_commit_interval_seconds
        next_commit = time.monotonic() + interval
        try:
            while True:
                self._apply_revocations()
                self._pace(kafka)
                # Shielded: a cancelled loop must not leave a poll running in its thread
                # while the way out commits and closes (the client is not thread-safe, and a
                # close racing a poll may never tell the group this member left).
                self._polling = asyncio.ensure_future(asyncio.to_thread(kafka.poll, POLL_TIMEOUT_MS))
                batch = await asyncio.shield(self._polling)
                self.last_poll = time.monotonic()
                assigned = frozenset(kafka.assignment()) if self.joined else frozenset()
                gained = assigned - self._assigned
                if assigned != self._assigned:
                    log.info("partitions_assigned", group=self._group,
                             partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned))
                self._assigned = assigned
                reset = self._topics_recreated(kafka) or self._went_back(batch)
                if reset or await self._commits_lost(kafka, gained):
                    await self._broker_reset()
                for tp, messages in batch.items():
                    for m in messages:
                        self._hand_out(tp, m)
                self._measure_lag(kafka, assigned)
                if time.monotonic() >= next_commit:
                    next_commit = time.monotonic() + interval
                    await self._commit(kafka)
        finally:
            # Work under way finishes its transaction or is abandoned (cancelled
            # mid-way it never committed); what is done gets committed once more.
            tasks = [*self._batches.close(), *self._tasks]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._polling is not None:
                await asyncio.gather(self._polling, return_exceptions=True)
            self._assigned = frozenset()
            try:
                await self._commit(kafka)
            finally:
                self._kafka = None
                await asyncio.to_thread(kafka.close)

    # --- the poll loop's bookkeeping -------------------------------------------
    def _measure_lag(self, kafka: KafkaConsumer, assigned: frozenset[TopicPartition]) -> None:
        """secondlook_consumer_lag: per topic, the records on the broker this member has
        not finished (from the high-water marks its fetches brought: no request)."""
        lag: dict[str, int] = {}
        for tp in assigned:
            high, done = kafka.highwater(tp), self._tracker.done_below(tp)
            if high is not None and done is not None:
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - done)
        for topic in {tp.topic for tp in assigned} | set(self._lag_topics):
            metrics.CONSUMER_LAG.labels(self._group, topic).set(lag.get(topic, 0))
        self._lag_topics = {tp.topic for tp in assigned}

    def _apply_revocations(self) -> None:
        revoked = self._rebalances.take_revoked()
        if revoked:
            self._assigned = self._assigned - revoked
        for tp in revoked:
            self._epoch[tp] = self._epoch.get(tp, 0) + 1
            self._tracker.forget(tp)

    def _pace(self, kafka: KafkaConsumer) -> None:
        """Pauses partitions with too much in hand or a record waiting for the store."""
        limit = self._settings.consumer_max_in_flight_per_partition
        want = {tp for tp in kafka.assignment()
                if tp in self._waiting_on_store or self._tracker.in_hand(tp) >= limit}
        paused = kafka.paused()
        if want - paused:
            kafka.pause(*(want - paused))
        if paused - want:
            kafka.resume(*(paused - want))

    async def _commit(self, kafka: KafkaConsumer) -> None:
        offsets = self._tracker.committable()
        if not offsets:
            return
        try:
            await asyncio.to_thread(
                kafka.commit, {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}
            )
            self._tracker.mark_committed(offsets)
            for tp, position in offsets.items():
                self._high_water[tp] = max(self._high_water.get(tp, 0), position)
        except Exception as exc:
            # The effects are durable and idempotent: a lost commit only means
            # these records are read (and dropped) again.
            log.warning("offset_commit_failed", error=type(exc).__name__)

    def _topics_recreated(self, kafka: KafkaConsumer) -> bool:
        """A subscribed topic's id changed in the cluster metadata: the broker lost
        the topic and it was created again. Seen within a metadata refresh, with or
        without traffic. (The ids are read from kafka-python's cluster metadata,
        `_cluster`, pinned with the library.)"""
        recreated = []
        for topic in self._topics:
            topic_id = kafka._cluster.topic_id(topic)
            if topic_id is None:
                continue
            before = self._topic_ids.get(topic)
            self._topic_ids[topic] = topic_id
            if before is not None and before != topic_id:
                recreated.append(topic)
        if recreated:
            log.warning("broker_reset_detected", group=self._group, recreated_topics=recreated)
            self._high_water.clear()
        return bool(recreated)

    async def _commits_lost(self, kafka: KafkaConsumer, gained: frozenset[TopicPartition]) -> bool:
        """On (re)joining: the group's committed offset of a partition is gone, or
        below what this member committed there itself. Shows a broker that lost its
        state even when no new record arrives to show it."""
        for tp in gained:
            mine = self._high_water.get(tp)
            if not mine:
                continue
            try:
                committed = await asyncio.to_thread(kafka.committed, tp)
            except Exception as exc:  # the coordinator is still settling: the next join checks again
                log.warning("committed_offset_unknown", error=type(exc).__name__)
                continue
            if committed is None or committed < mine:
                log.warning("broker_reset_detected", group=self._group, partition=f"{tp.topic}:{tp.partition}",
                            committed=committed, ours=mine)
                self._high_water.clear()
                return True
        return False

    def _went_back(self, batch: dict) -> bool:
        went_back = [tp for tp, messages in batch.items() if messages and messages[0].offset < self._high_water.get(tp, 0)]
        if went_back:
            log.warning("broker_reset_detected", group=self._group,
                        partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in went_back))
            self._high_water.clear()  # the new log starts afresh
        return bool(went_back)

    async def _broker_reset(self) -> None:
        if self._on_broker_reset is None:
            return
        async for attempt in backoff.attempts(Exception, attempts=None, wait_initial=0.2, wait_max=5.0):
            with attempt:
                await self._on_broker_reset()

    # --- lanes -------------------------------------------------------------------
    def _hand_out(self, tp: TopicPartition, m) -> None:
        self._tracker.add(tp, m.offset)
        item = (tp, self._epoch.get(tp, 0), Incoming(m.topic, m.partition, m.offset, m.key, m.value),
                time.monotonic())
        key = m.key if m.key is not None else tp  # unkeyed: in partition order
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(item)
            return
        self._lanes[key] = deque([item])
        task = asyncio.create_task(self._run_lane(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_lane(self, key: object) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                if self._linger:  # from the head record's arrival: what waited already waits no more
                    await asyncio.sleep(max(0.0, lane[0][3] + self._linger - time.monotonic()))
                unit = []
                for _ in range(min(len(lane), self._fold)):
                    tp, epoch, record, _ = lane.popleft()
                    if self._epoch.get(tp, 0) == epoch:  # else revoked since: its new owner handles it
                        unit.append((tp, epoch, record))
                if not unit:
                    continue
                await self._handle([(tp, record) for tp, _, record in unit])
                for tp, epoch, record in unit:
                    if self._epoch.get(tp, 0) == epoch:
                        self._tracker.done(tp, record.offset)
        finally:
            del self._lanes[key]

    async def _handle_batch(self, units: list[list[tuple[TopicPartition, Incoming]]]) -> list:
        """One go at a batch of lanes' units (a case's records, in order): each unit's
        outcomes, one per record: a record not handled has the error that kept it
        from it, and so has every record of its case after it (never applied
        before it: handle_batch stops a case at its first failure)."""
        outcomes = await self._consumer.handle_batch([record for unit in units for _, record in unit])
        per_unit, at = [], 0
        for unit in units:
            per_unit.append(outcomes[at:at + len(unit)])
            at += len(unit)
        return per_unit

    async def _handle(self, unit: list[tuple[TopicPartition, Incoming]]) -> None:
        """Hands a case's records over, in whatever batch forms, until they are handled:
        while the store is unreachable (or the broker cannot take a dead letter) they
        are tried again with backoff, and their partitions are paused; the rest of their
        batch goes on."""
        paused: list[TopicPartition] = []
        try:
            async for attempt in backoff.attempts(Exception, attempts=None, wait_initial=0.2, wait_max=5.0):
                with attempt:
                    try:
                        outcomes = await self._batches.submit(unit)
                        failed = next((i for i, o in enumerate(outcomes) if isinstance(o, Exception)), None)
                        if failed is not None:
                            unit = unit[failed:]  # what was handled is not handed over again
                            raise outcomes[failed]
                    except StoreUnavailable:
                        if not paused:
                            paused = sorted({tp for tp, _ in unit})
                            for tp in paused:
                                self._waiting_on_store[tp] = self._waiting_on_store.get(tp, 0) + 1
                                log.warning("store_unavailable_partition_paused", topic=tp.topic,
                                            partition=tp.partition)
                        raise
        finally:
            for tp in paused:
                left = self._waiting_on_store[tp] - 1
                if left:
                    self._waiting_on_store[tp] = left
                else:
                    del self._waiting_on_store[tp]
                    log.info("store_back_partition_resumed", topic=tp.topic, partition=tp.partition)


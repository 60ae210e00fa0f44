"""The one idempotent consumer.

`IdempotentConsumer.handle` is transport-agnostic: the kafka-python loop below
(intake, review, notify) and matching's Faust agent both feed it raw records.
For each event it either
- applies it once: the handler's writes, the events they cause (outbox) and the
  event id (processed_events) commit in one MongoDB transaction, so a repeat
  finds the id and is dropped;
- or sends it to the dead-letter topic with the reason: undecodable bytes and
  PermanentError at once, an unexpected error after `consumer_max_attempts`
  tries. The store being unreachable is not the event's fault: that is retried
  with backoff for as long as it lasts, and nothing is committed meanwhile.
Offsets are committed only after `handle` returns, i.e. after the effect is
durable (or the record is safely dead-lettered).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timezone

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from secondlook import metrics
from secondlook.bus import KafkaPublisher, Record
from secondlook.events import Event, UndecodableEvent, decode, trace_id_of
from secondlook.logging import bound_contextvars, get_logger
from secondlook.outbox import requeue
from secondlook.settings import Settings
from secondlook.store import PROCESSED, Store, UnitOfWork, utcnow
from secondlook.topics import DEAD_LETTER

log = get_logger(__name__)

Handler = Callable[[Event, UnitOfWork], Awaitable[None]]


class PermanentError(Exception):
    """The event can never be applied (it breaks a rule): dead-letter it, don't retry."""


@dataclass(frozen=True)
class Incoming:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class _Duplicate(Exception):
    pass


def _store_unavailable(exc: BaseException) -> bool:
    """The store cannot be reached or asks for a retry: not the event's fault."""
    if isinstance(exc, ConnectionFailure):  # includes AutoReconnect and server selection timeouts
        return True
    return isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError")
    )


OUTAGE_BACKOFF_CAP_SECONDS = 5.0


class IdempotentConsumer:
    def __init__(
        self,
        store: Store,
        publisher: KafkaPublisher,
        handlers: dict[str, Handler],
        *,
        group: str,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
        on_redrive: Callable[[str], Awaitable[None]] | None = None,
    ):
        self._store = store
        self._publisher = publisher
        self._handlers = handlers
        self._group = group
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        # What the service does on a redrive besides re-publishing its outbox.
        self._on_redrive = on_redrive

    @property
    def service(self) -> str:
        return self._store.service

    async def handle(self, record: Incoming) -> str:
        """Applies one record; returns the outcome (also counted in metrics)."""
        try:
            event = decode(record.value)
        except UndecodableEvent as exc:
            await self._dead_letter(record, "undecodable", str(exc))
            return "dead_lettered"
        with bound_contextvars(case_id=event.case_id, trace_id=trace_id_of(event.traceparent),
                               event_type=event.type, event_id=event.event_id):
            outcome = await self._handle_event(record, event)
        metrics.EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()
        return outcome

    async def _handle_event(self, record: Incoming, event: Event) -> str:
        if event.type == "redrive.requested":
            # Re-publishing is idempotent by nature: no marker needed.
            await requeue(self._store, event.case_id)
            if self._on_redrive is not None:
                await self._on_redrive(event.case_id)
            return "applied"
        handler = self._handlers.get(event.type)
        if handler is None:
            return "ignored"  # an event this service does not react to
        last_error = ""
        attempt = 0
        outage = 0
        while attempt < self._max_attempts:
            started = time.perf_counter()
            try:
                await self._store.transact(lambda uow: self._apply(handler, event, uow))
            except _Duplicate:
                return "duplicate"
            except PermanentError as exc:
                await self._dead_letter(record, "rejected", str(exc), event)
                return "dead_lettered"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _store_unavailable(exc):
                    outage += 1
                    delay = min(OUTAGE_BACKOFF_CAP_SECONDS, self._retry_base * 2 ** min(outage, 6))
                    log.warning("store_unavailable", retry_in=round(delay, 2), error=repr(exc)[:300])
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    continue
                attempt += 1
                last_error = repr(exc)
                log.warning("event_apply_failed", attempt=attempt, error=last_error[:300])
                if attempt < self._max_attempts:
                    await asyncio.sleep(self._retry_base * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
                continue
            metrics.EVENT_HANDLE_SECONDS.labels(self.service, event.type).observe(
                time.perf_counter() - started
            )
            lag = time.time() - event.occurred_at.ToDatetime(tzinfo=timezone.utc).timestamp()
            metrics.STAGE_LATENCY_SECONDS.labels(self.service, event.type).observe(max(lag, 0.0))
            return "applied"
        await self._dead_letter(
            record, "exhausted", f"failed {self._max_attempts} attempts; last error {last_error}", event
        )
        return "dead_lettered"

    async def _apply(self, handler: Handler, event: Event, uow: UnitOfWork) -> None:
        try:
            await uow.db[PROCESSED].insert_one(
                {"_id": event.event_id, "type": event.type, "case_id": event.case_id,
                 "group": self._group, "at": utcnow()},
                session=uow.session,
            )
        except DuplicateKeyError:
            raise _Duplicate() from None
        await handler(event, uow)

    async def _dead_letter(self, record: Incoming, reason: str, detail: str, event: Event | None = None) -> None:
        log.error("event_dead_lettered", reason=reason, detail=detail[:500],
                  topic=record.topic, partition=record.partition, offset=record.offset)
        metrics.DEAD_LETTERS.labels(self.service, reason).inc()
        headers = [
            ("dlq-reason", reason.encode()),
            ("dlq-detail", detail[:1000].encode()),
            ("dlq-source-topic", record.topic.encode()),
            ("dlq-source-partition", str(record.partition).encode()),
            ("dlq-source-offset", str(record.offset).encode()),
            ("dlq-consumer-group", self._group.encode()),
        ]
        if event is not None:
            headers.append(("event-id", event.event_id.encode()))
        key = record.key or (event.case_id.encode() if event else b"")
        # Must land before the offset is committed; let failures propagate so
        # the record is retried rather than lost.
        await self._publisher.publish([Record(DEAD_LETTER, key, record.value, headers)])


class KafkaConsumerLoop:
    """kafka-python transport for IdempotentConsumer.

    The records of one poll are grouped by key (case id): different cases are
    handled concurrently, one case's records in order and never two at once
    (two concurrent transactions on one case would only conflict). Offsets are
    committed after every record of the poll is handled.
    """

    def __init__(self, settings: Settings, consumer: IdempotentConsumer, topics: list[str], group: str):
        self._settings = settings
        self._consumer = consumer
        self._topics = topics
        self._group = group
        self._kafka: KafkaConsumer | None = None
        self.ready = asyncio.Event()

    def _connect(self) -> KafkaConsumer:
        kafka = KafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers.split(","),
            security_protocol=self._settings.kafka_security_protocol,
            group_id=self._group,
            client_id=f"{self._group}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Small rebalance timeouts: the embedded broker completes a group
            # join only when the rebalance timeout expires.
            max_poll_interval_ms=5_000,
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
            max_poll_records=50,
            # Notice topics created after we subscribed (e.g. by a broker that
            # restarted empty) within seconds, not the default five minutes.
            metadata_max_age_ms=5_000,
            fetch_max_wait_ms=100,
        )
        kafka.subscribe(self._topics)
        return kafka

    async def _blocking(self, fn, *args):
        """Runs a kafka-python call in a thread. kafka-python is not thread-safe, so
        the call stays in view (shielded from cancellation) and the consumer is
        closed only once it has returned."""
        self._inflight = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        return await asyncio.shield(self._inflight)

    async def run(self) -> None:
        self._kafka = await asyncio.to_thread(self._connect)
        self._inflight: asyncio.Future | None = None
        self.ready.set()
        try:
            while True:
                batch = await self._blocking(self._kafka.poll, 200)
                if not batch:
                    continue
                results = await asyncio.gather(
                    *(self._drain(msgs) for msgs in _by_key(batch).values()), return_exceptions=True
                )
                failures = [r for r in results if isinstance(r, BaseException)]
                if failures:
                    # Only a failed dead-letter publish gets here (the broker is
                    # down): rewind, so nothing is skipped, and try again later.
                    log.warning("consumer_batch_failed", error=repr(failures[0])[:300])
                    for tp, msgs in batch.items():
                        self._kafka.seek(tp, msgs[0].offset)
                    await asyncio.sleep(1.0)
                    continue
                offsets = {
                    TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(msgs[-1].offset + 1, "", -1)
                    for tp, msgs in batch.items()
                }
                try:
                    await self._blocking(self._kafka.commit, offsets)
                except Exception as exc:
                    # The effects are durable and idempotent: a lost commit only
                    # means these records are seen (and dropped) again.
                    log.warning("offset_commit_failed", error=repr(exc))
        finally:
            if self._inflight is not None and not self._inflight.done():
                await asyncio.wait([self._inflight])
            kafka, self._kafka = self._kafka, None
            await asyncio.to_thread(kafka.close)

    async def _drain(self, msgs) -> None:
        for m in msgs:
            await self._consumer.handle(Incoming(m.topic, m.partition, m.offset, m.key, m.value))


def _by_key(batch: dict) -> dict[bytes | None, list]:
    grouped: dict[bytes | None, list] = {}
    for msgs in batch.values():
        for m in msgs:
            grouped.setdefault(m.key, []).append(m)
    return grouped

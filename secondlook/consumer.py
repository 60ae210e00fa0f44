"""The one idempotent consumer: applies one event once, or dead-letters it.

`IdempotentConsumer.handle` and `handle_batch` are transport-agnostic (the
kernel's `ConsumerLoop` feeds them raw records). For each event it either
- applies it once: the handler's writes, the events they cause (outbox) and the
  event id (processed_events) commit in one MongoDB transaction, so a repeat
  finds the id and is dropped;
- or, for a `Guarded` handler (one guarded single-document write that records
  the event id itself), applies it with that write alone;
- or sends it to the dead-letter topic with the reason: undecodable bytes and
  PermanentError at once, a failing handler after `max_attempts` tries (a few
  seconds in all). Before giving up on an event whose last commit had an
  unknown outcome, it looks for the event's marker: a commit that did land is
  applied, not dead-lettered.
- The store being unreachable is not the event's fault: `handle` raises
  `StoreUnavailable` at once and the loop pauses consumption until the store
  is back, then hands the record again.

Group commit: `handle_batch` takes the records the loop has ready (of different
cases, so their order does not matter) and applies them in as few store
requests as it can: the events of transactional handlers in one transaction
(markers looked up in one read and written in one insert, the caused events'
outbox rows in one insert), those of a `Guarded` handler with `apply_many` in
its own batched write. Anything that goes wrong in a group (a repeat racing in,
a rule broken, a failing handler) sends the group's events down the one-by-one
path above, which retries, dead-letters and counts each on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta, timezone

from pymongo.errors import ConnectionFailure, DuplicateKeyError, ExecutionTimeout, PyMongoError

from secondlook import backoff, metrics
from secondlook.bus import KafkaPublisher, Record
from secondlook.clock import utcnow
from secondlook.events import Event, UndecodableEvent, decode, trace_id_of
from secondlook.logging import bound_contextvars, get_logger
from secondlook.outbox import requeue
from secondlook.store import PROCESSED, Store, UnitOfWork
from secondlook.topics import DEAD_LETTER

log = get_logger(__name__)

Handler = Callable[[Event, UnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class Guarded:
    """A handler that applies its event with one guarded single-document write:
    atomic on its own, idempotent by itself (the document records the event's
    id, and the guard refuses it a second time) and emitting nothing. It runs
    without a transaction or a processed-event marker: one or two store requests
    instead of four or more. `apply` returns False when the event had been
    recorded before (a repeat)."""

    apply: Callable[[Event], Awaitable[bool]]
    # The same for a batch of events of different cases, in as few requests as it
    # can; per event True (applied), False (a repeat) or None (apply it alone).
    apply_many: Callable[[list[Event]], Awaitable[list[bool | None]]] | None = None

    @classmethod
    def batched(cls, apply_many: Callable[[list[Event]], Awaitable[list[bool | None]]]) -> Guarded:
        """A handler written for batches; one event alone is a batch of one."""
        async def apply(event: Event) -> bool:
            return bool((await apply_many([event]))[0])

        return cls(apply, apply_many)


class PermanentError(Exception):
    """The event can never be applied (it breaks a rule): dead-letter it, don't retry."""


class StoreUnavailable(Exception):
    """The store cannot be reached: consumption pauses and the record is handed again later."""


@dataclass(frozen=True)
class Incoming:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class _Duplicate(Exception):
    pass


def store_unavailable(exc: BaseException) -> bool:
    """The store cannot be reached, is too busy to answer in time, or asks for a
    retry: not the event's fault. (A transaction left open by a process killed
    mid-way keeps its documents locked until the store reaps it: writers of the
    same documents conflict, and time out, until then.)"""
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout)):  # AutoReconnect, NetworkTimeout, ...
        return True
    return isinstance(exc, PyMongoError) and (
        exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError")
    )


def _retry_handler_error(exc: Exception) -> bool:
    return not isinstance(exc, (PermanentError, _Duplicate)) and not store_unavailable(exc)


def _observe_hops(cause: Event, caused: list[Event]) -> None:
    started = cause.occurred_at.ToDatetime()
    for event in caused:
        seconds = (event.occurred_at.ToDatetime() - started).total_seconds()
        metrics.STAGE_SECONDS.labels(cause.type, event.type).observe(max(seconds, 0.0))


class IdempotentConsumer:
    def __init__(
        self,
        store: Store,
        publisher: KafkaPublisher,
        handlers: dict[str, Handler | Guarded],
        *,
        group: str,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
        on_redrive: Callable[[str, tuple[str, ...]], Awaitable[None]] | None = None,
        stale_after: timedelta | None = None,
    ):
        self._store = store
        self._publisher = publisher
        self._handlers = handlers
        self._group = group
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        # What the service does on a redrive besides re-publishing its outbox.
        self._on_redrive = on_redrive
        # Events older than this may have had their markers pruned (retention.py).
        self._stale_after = stale_after

    @property
    def service(self) -> str:
        return self._store.service

    async def handle(self, record: Incoming) -> str:
        """Applies one record; returns the outcome (also counted in metrics).

        Raises StoreUnavailable when the store is down, and the publisher's error
        when a dead letter cannot be sent: the record is not handled then.
        """
        try:
            event = decode(record.value)
        except UndecodableEvent as exc:
            await self._dead_letter(record, "undecodable", str(exc))
            return "dead_lettered"
        with bound_contextvars(case_id=event.case_id, trace_id=trace_id_of(event.traceparent),
                               event_type=event.type, event_id=event.event_id):
            try:
                outcome = await self._handle_event(record, event)
            except PyMongoError as exc:
                if store_unavailable(exc):
                    raise StoreUnavailable(type(exc).__name__) from exc
                raise
        metrics.EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()
        return outcome

    async def handle_batch(self, records: list[Incoming]) -> list[str | Exception]:
        """Applies records of different cases together (group commit); returns each
        one's outcome, or the error that kept it from being handled (`StoreUnavailable`
        when the store cannot be reached, the publisher's error when its dead letter
        could not be sent): the loop hands those records again later."""
        outcomes: list[str | Exception | None] = [None] * len(records)
        if len(records) > 1:
            try:
                await self._apply_groups(records, outcomes)
            except Exception as exc:  # e.g. the store went away mid-group: each goes alone, and says so
                log.warning("batch_applied_one_by_one", error=type(exc).__name__, events=len(records))
        # The rest one by one: different cases at once, one case's records in order.
        by_case: dict[bytes | None, list[int]] = {}
        for i, outcome in enumerate(outcomes):
            if outcome is None:
                by_case.setdefault(records[i].key, []).append(i)

        async def in_order(indices: list[int]) -> None:
            for n, i in enumerate(indices):
                try:
                    outcomes[i] = await self.handle(records[i])
                except Exception as exc:  # the case's later records wait for this one: not applied before it
                    for j in indices[n:]:
                        outcomes[j] = exc
                    return

        await asyncio.gather(*(in_order(indices) for indices in by_case.values()))
        return outcomes  # type: ignore[return-value]

    async def _apply_groups(self, records: list[Incoming], outcomes: list[str | Exception | None]) -> None:
        guarded: dict[int, tuple[Guarded, list[tuple[int, Event]]]] = {}
        together: list[tuple[int, Event, Handler]] = []
        for i, record in enumerate(records):
            try:
                event = decode(record.value)
            except UndecodableEvent:
                continue  # one by one: dead-lettered there
            handler = self._handlers.get(event.type)
            if handler is None or event.type == "redrive.requested" or self._is_stale(event):
                continue
            if isinstance(handler, Guarded):
                if handler.apply_many is not None:
                    guarded.setdefault(id(handler), (handler, []))[1].append((i, event))
            else:
                together.append((i, event, handler))
        for handler, items in guarded.values():
            await self._apply_guarded_many(handler, items, outcomes)
        if len(together) > 1:
            await self._apply_together(together, outcomes)

    async def _apply_guarded_many(self, handler: Guarded, items: list[tuple[int, Event]],
                                  outcomes: list[str | Exception | None]) -> None:
        assert handler.apply_many is not None
        started = time.perf_counter()
        try:
            results = await handler.apply_many([e for _, e in items])
        except Exception as exc:
            log.warning("batch_applied_one_by_one", error=type(exc).__name__, events=len(items))
            return
        for (i, event), applied in zip(items, results, strict=True):
            if applied is not None:
                outcomes[i] = self._count(event, "applied" if applied else "duplicate", started)

    async def _apply_together(self, items: list[tuple[int, Event, Handler]],
                              outcomes: list[str | Exception | None]) -> None:
        """The events of transactional handlers in one transaction: markers read in
        one request and inserted in one, the caused events' rows in one."""
        started = time.perf_counter()

        async def body(uow: UnitOfWork) -> list[bool]:
            ids = [e.event_id for _, e, _ in items]
            seen = {d["_id"] for d in await uow.db[PROCESSED].find(
                {"_id": {"$in": ids}}, {"_id": 1}, session=uow.session).to_list()}
            markers, applied = [], []
            for _, event, handler in items:
                if event.event_id in seen:
                    applied.append(False)
                    continue
                with bound_contextvars(case_id=event.case_id, trace_id=trace_id_of(event.traceparent),
                                       event_type=event.type, event_id=event.event_id):
                    before = len(uow.events)
                    await handler(event, uow)
                caused = uow.events[before:]
                if caused:
                    uow.after_commit.append(lambda e=event, c=caused: _observe_hops(e, c))
                markers.append(self._marker(event))
                applied.append(True)
            if markers:
                await uow.db[PROCESSED].insert_many(markers, session=uow.session)
            return applied

        try:
            applied = await self._store.transact(body)
        except Exception as exc:
            log.warning("batch_applied_one_by_one", error=type(exc).__name__, events=len(items))
            return
        for (i, event, _), done in zip(items, applied, strict=True):
            outcomes[i] = self._count(event, "applied" if done else "duplicate", started)

    def _count(self, event: Event, outcome: str, started: float) -> str:
        metrics.EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()
        if outcome == "applied":
            self._observe_applied(event, started)
        return outcome

    def _observe_applied(self, event: Event, started: float) -> None:
        metrics.EVENT_HANDLE_SECONDS.labels(self.service, event.type).observe(time.perf_counter() - started)
        lag = time.time() - event.occurred_at.ToDatetime(tzinfo=timezone.utc).timestamp()
        metrics.STAGE_LATENCY_SECONDS.labels(self.service, event.type).observe(max(lag, 0.0))

    def _is_stale(self, event: Event) -> bool:
        """Older than any marker is kept: it was handled long ago."""
        return self._stale_after is not None and \
            utcnow() - event.occurred_at.ToDatetime(tzinfo=timezone.utc) > self._stale_after

    def _marker(self, event: Event) -> dict:
        return {"_id": event.event_id, "type": event.type, "case_id": event.case_id, "group": self._group,
                "at": utcnow()}

    async def _handle_event(self, record: Incoming, event: Event) -> str:
        if self._is_stale(event):
            return "stale"
        if event.type == "redrive.requested":
            # Re-publishing is idempotent by nature: no marker needed.
            types = tuple(event.redrive_requested.republish_types)
            await requeue(self._store, event.case_id, types)
            if self._on_redrive is not None:
                await self._on_redrive(event.case_id, types)
            return "applied"
        handler = self._handlers.get(event.type)
        if handler is None:
            return "ignored"  # an event this service does not react to
        started = time.perf_counter()
        try:
            async for attempt in backoff.attempts(_retry_handler_error, attempts=self._max_attempts,
                                                  wait_initial=self._retry_base, wait_max=2.0):
                with attempt:
                    if isinstance(handler, Guarded):
                        if not await handler.apply(event):  # a repeat, refused by its own guard
                            return "duplicate"
                    else:
                        await self._store.transact(lambda uow: self._apply(handler, event, uow))
        except _Duplicate:
            return "duplicate"
        except PermanentError as exc:
            await self._dead_letter(record, "rejected", str(exc), event)
            return "dead_lettered"
        except Exception as exc:
            if store_unavailable(exc):
                raise
            if not isinstance(handler, Guarded) and await self._store.processed(event.event_id):
                return "applied"  # the last commit's outcome was unknown, and it did land
            await self._dead_letter(
                record, "exhausted", f"failed {self._max_attempts} attempts; last error {exc!r}", event
            )
            return "dead_lettered"
        self._observe_applied(event, started)
        return "applied"

    async def _apply(self, handler: Handler, event: Event, uow: UnitOfWork) -> None:
        try:
            await uow.db[PROCESSED].insert_one(self._marker(event), session=uow.session)
        except DuplicateKeyError:
            raise _Duplicate() from None
        await handler(event, uow)
        caused = list(uow.events)
        if caused:
            uow.after_commit.append(lambda: _observe_hops(event, caused))

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

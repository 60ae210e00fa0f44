"""The idempotent consumer's retry rules, with plain fakes for store and publisher."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from secondlook.consumer import IdempotentConsumer, Incoming, StoreUnavailable
from secondlook.events import new_event
from secondlook.v1 import events_pb2


class FakeStore:
    service = "test"

    def __init__(self, failures: list[Exception], landed: bool = False):
        self.failures = failures
        self.calls = 0
        self.landed = landed  # whether a commit that raised had landed all the same

    async def transact(self, body):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)

    async def processed(self, event_id):
        return self.landed


class FakePublisher:
    def __init__(self):
        self.records = []

    async def publish(self, records):
        self.records.extend(records)


def _record():
    event = new_event(events_pb2.OpinionSubmitted(), case_id="c1", tenant_id="t", producer="review")
    return Incoming("secondlook.review.events.v1", 0, 7, b"c1", event.SerializeToString())


async def _noop(event, uow):
    pass


async def test_an_unreachable_store_is_handed_back_to_the_loop_not_dead_lettered():
    store = FakeStore([AutoReconnect("connection refused")] * 8)
    publisher = FakePublisher()
    consumer = IdempotentConsumer(store, publisher, {"opinion.submitted": _noop}, group="g",
                                  max_attempts=2, retry_base_seconds=0.001)
    with pytest.raises(StoreUnavailable):
        await consumer.handle(_record())
    assert store.calls == 1  # no attempt spent: the loop pauses and hands the record again
    assert publisher.records == []


async def test_a_commit_whose_outcome_was_unknown_is_checked_before_dead_lettering():
    unknown = OperationFailure("commit outcome unknown")
    store = FakeStore([unknown] * 3, landed=True)
    publisher = FakePublisher()
    consumer = IdempotentConsumer(store, publisher, {"opinion.submitted": _noop}, group="g",
                                  max_attempts=3, retry_base_seconds=0.001)
    assert await consumer.handle(_record()) == "applied"
    assert publisher.records == []


async def test_a_failing_handler_is_dead_lettered_after_max_attempts():
    store = FakeStore([ValueError("bug")] * 3)
    publisher = FakePublisher()
    consumer = IdempotentConsumer(store, publisher, {"opinion.submitted": _noop}, group="g",
                                  max_attempts=3, retry_base_seconds=0.001)
    assert await consumer.handle(_record()) == "dead_lettered"
    assert store.calls == 3
    [dead] = publisher.records
    headers = dict(dead.headers)
    assert headers["dlq-reason"] == b"exhausted"
    assert b"ValueError" in headers["dlq-detail"]
    assert headers["dlq-source-offset"] == b"7"


@pytest.mark.parametrize("value", [b"", b"\x00\x01"])
async def test_undecodable_bytes_go_straight_to_the_dead_letter_topic(value):
    store, publisher = FakeStore([]), FakePublisher()
    consumer = IdempotentConsumer(store, publisher, {}, group="g")
    record = Incoming("t", 0, 1, b"k", value)
    assert await consumer.handle(record) == "dead_lettered"
    assert store.calls == 0 and dict(publisher.records[0].headers)["dlq-reason"] == b"undecodable"


async def test_a_cancelled_handler_is_not_retried_the_cancellation_goes_through():
    """A stopping service cancels the work in hand: it must end, not start again."""
    store = FakeStore([asyncio.CancelledError()] * 3)
    publisher = FakePublisher()
    consumer = IdempotentConsumer(store, publisher, {"opinion.submitted": _noop}, group="g",
                                  max_attempts=3, retry_base_seconds=0.001)
    with pytest.raises(asyncio.CancelledError):
        await consumer.handle(_record())
    assert store.calls == 1
    assert publisher.records == []

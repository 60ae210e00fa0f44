"""The idempotent consumer against the real store and broker."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest
from prometheus_client import REGISTRY

from secondlook.bus import KafkaPublisher, Record
from secondlook.consumer import (
    Guarded,
    IdempotentConsumer,
    Incoming,
    PermanentError,
)
from secondlook.consumerloop import ConsumerLoop
from secondlook.events import headers_of, new_event
from secondlook.store import OUTBOX, PROCESSED
from secondlook.topics import DEAD_LETTER, ensure_topics
from secondlook.v1 import events_pb2
from services.topology import ALL_TOPICS
from tests.conftest import eventually
from tests.integration.kafka_reader import read_topic

pytestmark = pytest.mark.integration


def _offered(case_id: str = "c1"):
    return new_event(events_pb2.SpecialistOffered(assignment_id="a1", specialist_id="s1"), case_id=case_id,
                     tenant_id="t", producer="matching")


async def _counting_handler(event, uow):
    await uow.db.effects.update_one({"_id": event.case_id}, {"$inc": {"n": 1}}, upsert=True, session=uow.session)


@pytest.fixture
async def publisher(infra_settings):
    await asyncio.to_thread(ensure_topics, infra_settings, ALL_TOPICS)
    publisher = KafkaPublisher(infra_settings, "test")
    yield publisher
    await publisher.close()


def _incoming(event, offset=0, value=None):
    return Incoming("secondlook.matching.events.v1", 0, offset, event.case_id.encode(),
                    value if value is not None else event.SerializeToString())


async def test_an_event_is_applied_once_however_often_it_arrives(store, publisher):
    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": _counting_handler}, group="g")
    event = _offered()
    outcomes = [await consumer.handle(_incoming(event, i)) for i in range(3)]
    assert outcomes == ["applied", "duplicate", "duplicate"]
    assert (await store.db.effects.find_one({"_id": "c1"}))["n"] == 1
    assert await store.db[PROCESSED].count_documents({"_id": event.event_id}) == 1


async def test_the_effect_its_events_and_the_marker_commit_together(store, publisher):
    async def failing_after_write(event, uow):
        await _counting_handler(event, uow)
        uow.emit(new_event(events_pb2.MatchingStarted(), case_id=event.case_id, tenant_id="t", producer="x"))
        raise RuntimeError("store hiccup")

    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": failing_after_write}, group="g",
                                  max_attempts=2, retry_base_seconds=0.01)
    event = _offered("c-half")
    assert await consumer.handle(_incoming(event)) == "dead_lettered"
    assert await store.db.effects.count_documents({"_id": "c-half"}) == 0
    assert await store.db[OUTBOX].count_documents({"case_id": "c-half"}) == 0
    assert await store.db[PROCESSED].count_documents({"_id": event.event_id}) == 0


async def test_each_hop_from_a_consumed_event_to_what_it_caused_is_measured_once_committed(store, publisher):
    def hops(to: str) -> float:
        return REGISTRY.get_sample_value("secondlook_stage_seconds_count",
                                         {"from": "specialist.offered", "to": to}) or 0.0

    def hop_seconds(to: str) -> float:
        return REGISTRY.get_sample_value("secondlook_stage_seconds_sum",
                                         {"from": "specialist.offered", "to": to}) or 0.0

    async def accepting(event, uow):
        caused = new_event(events_pb2.AssignmentAccepted(assignment_id="a1"), case_id=event.case_id,
                           tenant_id="t", producer="review",
                           occurred_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc) + timedelta(seconds=2))
        uow.emit(caused)

    async def failing(event, uow):
        await accepting(event, uow)
        raise RuntimeError("never commits")

    before, before_seconds = hops("assignment.accepted"), hop_seconds("assignment.accepted")
    failed = IdempotentConsumer(store, publisher, {"specialist.offered": failing}, group="g-fail",
                                max_attempts=1, retry_base_seconds=0.01)
    assert await failed.handle(_incoming(_offered("c-hop-0"))) == "dead_lettered"
    assert hops("assignment.accepted") == before  # nothing committed, nothing measured

    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": accepting}, group="g-hop")
    assert await consumer.handle(_incoming(_offered("c-hop"))) == "applied"
    assert hops("assignment.accepted") == before + 1
    assert hop_seconds("assignment.accepted") - before_seconds == pytest.approx(2.0)


async def test_a_guarded_handler_runs_without_a_marker_and_a_repeat_is_a_duplicate(store, publisher):
    async def insert_once(event):
        result = await store.db.effects.update_one({"_id": event.event_id}, {"$setOnInsert": {"n": 1}}, upsert=True)
        return result.upserted_id is not None

    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": Guarded(insert_once)}, group="g-guarded")
    event = _offered("c-guarded")
    assert [await consumer.handle(_incoming(event, i)) for i in range(2)] == ["applied", "duplicate"]
    assert await store.db.effects.count_documents({"_id": event.event_id}) == 1
    assert await store.db[PROCESSED].count_documents({"_id": event.event_id}) == 0


async def test_poison_goes_to_the_dead_letter_topic_with_the_reason(store, publisher, infra_settings):
    async def rejecting(event, uow):
        raise PermanentError("assignment_id: unknown assignment")

    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": rejecting}, group="g-dlq")
    garbage = _incoming(_offered("c-garbage"), value=b"\x08\x96\x01garbage")
    assert await consumer.handle(garbage) == "dead_lettered"
    assert await consumer.handle(_incoming(_offered("c-rejected"))) == "dead_lettered"

    async def dead_letters():
        records = await read_topic(infra_settings.kafka_bootstrap_servers, DEAD_LETTER)
        mine = {r.key: dict(r.headers) for r in records if r.key in (b"c-garbage", b"c-rejected")}
        return mine if len(mine) == 2 else None

    mine = await eventually(dead_letters, 10, "both records on the dead-letter topic")
    assert mine[b"c-garbage"]["dlq-reason"] == b"undecodable"
    assert mine[b"c-rejected"]["dlq-reason"] == b"rejected"
    assert b"unknown assignment" in mine[b"c-rejected"]["dlq-detail"]
    assert mine[b"c-rejected"]["dlq-consumer-group"] == b"g-dlq"


async def test_events_of_no_interest_are_ignored(store, publisher):
    consumer = IdempotentConsumer(store, publisher, {}, group="g")
    assert await consumer.handle(_incoming(_offered())) == "ignored"
    assert await store.db[PROCESSED].count_documents({}) == 0


async def test_the_kafka_loop_applies_each_published_event_once(store, publisher, infra_settings):
    topic = f"it.consumer.{store.db.name}"
    await asyncio.to_thread(ensure_topics, infra_settings, (topic,))
    events = [_offered(f"loop-{i}") for i in range(10)]
    # Every event twice, as a re-publication after a crash would do.
    records = [Record(topic, e.case_id.encode(), e.SerializeToString(), headers_of(e)) for e in events] * 2
    await publisher.publish(records)
    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": _counting_handler}, group=topic)
    loop = ConsumerLoop(infra_settings, consumer, [topic], group=topic)
    task = asyncio.create_task(loop.run())
    try:
        async def all_applied():
            return await store.db[PROCESSED].count_documents({}) == 10 and await store.db.effects.count_documents({}) == 10

        await eventually(all_applied, 60, "the loop to apply all ten events")
        counts = [d["n"] async for d in store.db.effects.find({})]
        assert counts == [1] * 10
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

"""The kernel's consumer loop against the real broker and store: a failing
event never blocks its partition, a store outage pauses it without stalling
the group, and offsets move on only past what is done."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect

from secondlook.bus import KafkaPublisher, Record
from secondlook.consumer import IdempotentConsumer
from secondlook.consumerloop import ConsumerLoop
from secondlook.events import headers_of, new_event
from secondlook.topics import DEAD_LETTER, ensure_topics
from secondlook.v1 import events_pb2
from tests.conftest import eventually
from tests.integration.kafka_reader import committed_offset, read_topic

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 10.0


def _event(case_id: str):
    return new_event(events_pb2.SpecialistOffered(assignment_id="a", specialist_id="s"), case_id=case_id,
                     tenant_id="t", producer="matching")


async def test_poison_and_a_store_outage_do_not_hold_up_the_other_cases_of_their_partition(store, infra_settings):
    settings = infra_settings.model_copy(update={"kafka_topic_partitions": 1})
    topic = f"it.loop.{store.db.name}"
    await asyncio.to_thread(ensure_topics, settings, (topic, DEAD_LETTER))
    publisher = KafkaPublisher(settings, "test-loop")

    store_back = asyncio.Event()
    outage_attempts = 0

    async def handler(event, uow):
        nonlocal outage_attempts
        if event.case_id == "poison":
            raise ValueError("this event breaks the handler every time")
        if event.case_id == "outage" and not store_back.is_set():
            outage_attempts += 1
            raise AutoReconnect("store unreachable")
        await uow.db.effects.update_one({"_id": event.case_id}, {"$inc": {"n": 1}}, upsert=True,
                                        session=uow.session)

    ok = [_event(f"ok-{i}") for i in range(20)]
    poison = [_event("poison"), _event("poison")]
    outage = _event("outage")
    events = [*ok[:5], poison[0], outage, poison[1], *ok[5:]]  # one partition, in this order
    await publisher.publish([Record(topic, e.case_id.encode(), e.SerializeToString(), headers_of(e))
                             for e in events])

    group = f"g-{topic}"
    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": handler}, group=group,
                                  max_attempts=3, retry_base_seconds=0.05)
    loop = ConsumerLoop(settings, consumer, [topic], group=group)
    task = asyncio.create_task(loop.run())
    started = time.monotonic()
    try:
        async def others_applied():
            return await store.db.effects.count_documents({"_id": {"$regex": "^ok-"}}) == 20

        await eventually(others_applied, 60, "the 20 healthy cases to be applied")
        # They were applied while the outage case was still waiting for the store,
        # and the offset has not moved past the record still in hand.
        assert not store_back.is_set() and outage_attempts >= 1
        assert await store.db.effects.count_documents({"_id": "outage"}) == 0
        committed = await committed_offset(settings.kafka_bootstrap_servers, group, topic)
        assert committed is None or committed <= events.index(outage)

        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))  # the outage lasts 10 s
        store_back.set()

        async def outage_case_applied():
            return await store.db.effects.count_documents({"_id": "outage"}) == 1

        await eventually(outage_case_applied, 30, "the outage case to be applied once the store is back")

        async def offset_at_end():
            return await committed_offset(settings.kafka_bootstrap_servers, group, topic) == len(events)

        await eventually(offset_at_end, 30, "the committed offset to move past every record")
        assert loop.joined, "the member kept its place in the group through the outage"

        dead = [r for r in await read_topic(settings.kafka_bootstrap_servers, DEAD_LETTER)
                if dict(r.headers).get("dlq-consumer-group") == group.encode()]
        assert sorted(dict(r.headers)["event-id"].decode() for r in dead) == sorted(e.event_id for e in poison)
        assert all(dict(r.headers)["dlq-reason"] == b"exhausted" for r in dead)
        assert [d["n"] async for d in store.db.effects.find({})] == [1] * 21
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await publisher.close()


async def test_a_service_can_handle_fewer_events_at_once_than_the_default(store, infra_settings):
    """matching's reservations contend for the same specialists: it handles at most
    `max_concurrency` cases at once, whatever SECONDLOOK_CONSUMER_MAX_CONCURRENCY says."""
    settings = infra_settings.model_copy(update={"kafka_topic_partitions": 1, "consumer_max_concurrency": 8})
    topic = f"it.loop.cap.{store.db.name}"
    await asyncio.to_thread(ensure_topics, settings, (topic, DEAD_LETTER))
    publisher = KafkaPublisher(settings, "test-loop-cap")
    events = [_event(f"case-{i}") for i in range(10)]
    await publisher.publish([Record(topic, e.case_id.encode(), e.SerializeToString(), headers_of(e))
                             for e in events])

    in_flight = peak = 0
    gate = asyncio.Event()

    async def handler(event, uow):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await gate.wait()
            await uow.db.effects.insert_one({"_id": event.case_id}, session=uow.session)
        finally:
            in_flight -= 1

    group = f"g-{topic}"
    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": handler}, group=group,
                                  max_attempts=3, retry_base_seconds=0.05)
    loop = ConsumerLoop(settings, consumer, [topic], group=group, max_concurrency=2)
    task = asyncio.create_task(loop.run())
    try:
        async def two_in_hand():
            return in_flight == 2

        await eventually(two_in_hand, 60, "two cases to be in hand")
        # The loop keeps polling for half a second more: a third handler, were one
        # allowed, would be in by then (the records are all fetched and in lanes).
        seen_at = loop.last_poll

        async def polled_again():
            return loop.last_poll > seen_at + 0.5

        await eventually(polled_again, 10, "the poll loop to go round again")
        assert in_flight == 2 and peak == 2
        # None done yet: the lag is every record on the partition.
        assert REGISTRY.get_sample_value("secondlook_consumer_lag", {"group": group, "topic": topic}) == len(events)
        gate.set()

        async def all_applied():
            return await store.db.effects.count_documents({}) == len(events)

        await eventually(all_applied, 30, "every case to be applied")
        assert peak == 2

        async def caught_up():
            return REGISTRY.get_sample_value("secondlook_consumer_lag", {"group": group, "topic": topic}) == 0

        await eventually(caught_up, 10, "the lag to read 0 once every record is done")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await publisher.close()

"""The transactional outbox and its relay, against the real store and broker."""

from __future__ import annotations

import pytest

from secondlook.bus import KafkaPublisher
from secondlook.events import decode, new_event
from secondlook.outbox import OutboxRelay, requeue
from secondlook.store import OUTBOX
from secondlook.topics import INTAKE_EVENTS, ensure_topics
from secondlook.v1 import events_pb2
from tests.conftest import eventually
from tests.integration.kafka_reader import read_topic

pytestmark = pytest.mark.integration


def _submitted(case_id: str):
    return new_event(events_pb2.CaseSubmitted(diagnosis_code="G35"), case_id=case_id, tenant_id="t",
                     producer="intake")


async def test_state_and_events_commit_together_or_not_at_all(store):
    async def good(uow):
        await uow.db.cases.insert_one({"_id": "c1"}, session=uow.session)
        uow.emit(_submitted("c1"))

    await store.transact(good)
    assert await store.db.cases.count_documents({}) == 1
    assert await store.db[OUTBOX].count_documents({"case_id": "c1", "published": False}) == 1

    async def bad(uow):
        await uow.db.cases.insert_one({"_id": "c2"}, session=uow.session)
        uow.emit(_submitted("c2"))
        raise ValueError("validation failed half-way")

    with pytest.raises(ValueError):
        await store.transact(bad)
    assert await store.db.cases.count_documents({"_id": "c2"}) == 0
    assert await store.db[OUTBOX].count_documents({"case_id": "c2"}) == 0


async def test_the_relay_publishes_in_order_and_relaying_again_is_harmless(store, infra_settings):
    await ensure_topics_async(infra_settings)
    case_id = f"case-{store.db.name}"
    sent = []

    async def body(uow):
        for _ in range(3):
            event = _submitted(case_id)
            sent.append(event.event_id)
            uow.emit(event)

    await store.transact(body)
    publisher = KafkaPublisher(infra_settings, "test-relay")
    relay = OutboxRelay(store, publisher, poll_seconds=0.1)
    try:
        assert await relay.relay_once() == 3
        assert await relay.relay_once() == 0
        assert await store.db[OUTBOX].count_documents({"published": True}) == 3

        async def landed():
            records = await read_topic(infra_settings.kafka_bootstrap_servers, INTAKE_EVENTS)
            return [r for r in records if r.key == case_id.encode()]

        records = await eventually(landed, 10, "the events on the topic")
        assert [decode(r.value).event_id for r in records] == sent  # keyed by case: one partition, in order
        assert dict(records[0].headers)["event-type"] == b"case.submitted"

        assert await requeue(store, case_id) == 3
        assert await relay.relay_once() == 3

        async def landed_twice():
            got = await landed()
            return got if len(got) == 6 else None

        again = await eventually(landed_twice, 10, "the re-published events")
        assert [decode(r.value).event_id for r in again[3:]] == sent
    finally:
        await publisher.close()


async def ensure_topics_async(settings):
    import asyncio

    await asyncio.to_thread(ensure_topics, settings)


async def test_a_redrive_requeues_stage_events_but_never_redrive_requests(store):
    case_id = "c-redrive"

    async def body(uow):
        uow.emit(_submitted(case_id))
        uow.emit(new_event(events_pb2.RedriveRequested(stuck_in=1), case_id=case_id, tenant_id="t",
                           producer="intake"))

    await store.transact(body)
    await store.db[OUTBOX].update_many({}, {"$set": {"published": True}})
    assert await requeue(store, case_id) == 1
    pending = await store.db[OUTBOX].find({"published": False}).to_list()
    assert [d["type"] for d in pending] == ["case.submitted"]
    redrive = await store.db[OUTBOX].find_one({"type": "redrive.requested"})
    assert redrive["topic"] == "secondlook.control.redrive.v1"

"""Retention against the real store: what is past the grace period goes, what
is not (or is still to be published) stays, and an event whose marker went is
refused as stale rather than applied again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from secondlook.bus import KafkaPublisher
from secondlook.clock import FakeClock, utcnow
from secondlook.consumer import IdempotentConsumer, Incoming
from secondlook.events import new_event
from secondlook.retention import Retention, stale_after
from secondlook.store import OUTBOX, PROCESSED
from secondlook.v1 import events_pb2

pytestmark = pytest.mark.integration

GRACE = 30 * 86400


async def test_rows_past_the_grace_period_are_pruned_and_their_events_refused_as_stale(store, infra_settings):
    now = utcnow()
    old, fresh = now - timedelta(days=31), now - timedelta(days=1)
    await store.db[OUTBOX].insert_many([
        {"_id": "old-published", "published": True, "published_at": old},
        {"_id": "old-unpublished", "published": False, "created_at": old},  # the relay was down: kept
        {"_id": "fresh-published", "published": True, "published_at": fresh},
    ])
    event = new_event(events_pb2.SpecialistOffered(assignment_id="a"), case_id="c-old", tenant_id="t",
                      producer="matching", occurred_at=old)
    await store.db[PROCESSED].insert_many([{"_id": event.event_id, "at": old}, {"_id": "fresh", "at": fresh}])

    retention = Retention(store, grace_seconds=GRACE, interval_seconds=3600, clock=FakeClock(now))
    assert await retention.prune_once() == {"outbox": 1, "markers": 1}
    assert sorted(d["_id"] for d in await store.db[OUTBOX].find({}).to_list()) == ["fresh-published",
                                                                                     "old-unpublished"]
    assert [d["_id"] for d in await store.db[PROCESSED].find({}).to_list()] == ["fresh"]

    # The old event comes back (a re-read topic, a re-published outbox): its marker
    # is gone, and it is refused as stale, never applied as new.
    applied = []

    async def handler(e, uow):
        applied.append(e.event_id)

    publisher = KafkaPublisher(infra_settings, "test-retention")
    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": handler}, group="g",
                                  stale_after=stale_after(GRACE))
    record = Incoming("t", 0, 0, b"c-old", event.SerializeToString())
    assert await consumer.handle(record) == "stale"
    assert applied == []
    assert await store.db[PROCESSED].count_documents({"_id": event.event_id}) == 0
    await publisher.close()

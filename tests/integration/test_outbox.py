"""The transactional outbox and its relay, against the real store and broker."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from secondlook import outbox as outbox_module
from secondlook.bus import KafkaPublisher
from secondlook.events import decode, new_event
from secondlook.outbox import OutboxRelay, requeue
from secondlook.store import OUTBOX, RECEIPT_SHARD, Store
from secondlook.topics import ensure_topics
from secondlook.v1 import events_pb2
from services.topology import ALL_TOPICS, PRODUCES
from tests.conftest import Pending, eventually
from tests.integration.kafka_reader import read_topic
from tests.integration.store_requests import StoreRequests

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
    row = await store.db[OUTBOX].find_one({"case_id": "c1"})
    receipt = await store.db[OUTBOX].find_one({"shard": RECEIPT_SHARD})  # not on the broker yet
    assert receipt["rows"] == [{"id": row["_id"], "shard": row["shard"]}]

    async def bad(uow):
        await uow.db.cases.insert_one({"_id": "c2"}, session=uow.session)
        uow.emit(_submitted("c2"))
        raise ValueError("validation failed half-way")

    with pytest.raises(ValueError):
        await store.transact(bad)
    assert await store.db.cases.count_documents({"_id": "c2"}) == 0
    assert await store.db[OUTBOX].count_documents({"case_id": "c2"}) == 0
    assert await _receipts(store) == 1  # the first commit's only


async def test_the_scan_publishes_in_order_and_relaying_again_is_harmless(store, infra_settings):
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
    relay = OutboxRelay(store, publisher, poll_seconds=0.1, scan_grace_seconds=0)
    try:
        assert await relay.relay_once() == 3
        assert await relay.relay_once() == 0
        assert await store.db[OUTBOX].count_documents({"published": True}) == 3
        assert await _receipts(store) == 0  # the commit's receipt, deleted once its rows were on the broker

        async def landed():
            records = await read_topic(infra_settings.kafka_bootstrap_servers, PRODUCES["intake"])
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
    await asyncio.to_thread(ensure_topics, settings, ALL_TOPICS)


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


async def test_a_cases_events_are_numbered_in_commit_order_across_replicas(store, infra_settings):
    """Two Store objects stand for two replicas writing events of one case at once."""
    other = Store(infra_settings, "intake")
    case_id = "c-seq"
    try:
        async def emit_one(uow):
            uow.emit(_submitted(case_id))

        await asyncio.gather(*(s.transact(emit_one) for s in [store, other] * 10))
        rows = await store.db[OUTBOX].find({"case_id": case_id}).sort("_id", 1).to_list()
        assert [r["seq"] for r in rows] == list(range(1, 21))  # no gap, no repeat
        assert len({r["shard"] for r in rows}) == 1
    finally:
        await other.close()


async def test_each_relay_publishes_only_the_shards_it_owns_and_each_event_once(store, infra_settings):
    await ensure_topics_async(infra_settings)
    cases = [f"shard-{store.db.name}-{i}" for i in range(40)]

    async def body(uow):
        for case_id in cases:
            uow.emit(_submitted(case_id))

    await store.transact(body)
    shards = {d["case_id"]: d["shard"] for d in await store.db[OUTBOX].find({"shard": {"$gte": 0}}).to_list()}
    assert set(shards.values()) == {0, 1, 2, 3}  # 40 cases spread over the 4 partitions
    publisher = KafkaPublisher(infra_settings, "test-relay-shards")
    first, second = (OutboxRelay(store, publisher, 0.1, scan_grace_seconds=0),
                     OutboxRelay(store, publisher, 0.1, scan_grace_seconds=0))
    first.owned_shards = lambda: {0, 1}
    second.owned_shards = lambda: {2, 3}
    idle = OutboxRelay(store, publisher, 0.1, scan_grace_seconds=0)
    idle.owned_shards = lambda: set()  # not in the group yet
    try:
        assert await idle.relay_once() == 0
        mine = await first.relay_once()
        assert mine == sum(1 for s in shards.values() if s in (0, 1))
        receipt = await store.db[OUTBOX].find_one({"shard": RECEIPT_SHARD})  # what is left is the others'
        assert sorted(e["id"].split(":")[0] for e in receipt["rows"]) == sorted(
            c for c, s in shards.items() if s in (2, 3))
        assert await second.relay_once() == 40 - mine
        assert await _receipts(store) == 0
        assert await first.relay_once() == 0 and await second.relay_once() == 0

        async def landed():
            records = await read_topic(infra_settings.kafka_bootstrap_servers, PRODUCES["intake"])
            return [r for r in records if r.key.decode() in shards]

        records = await eventually(lambda: _at_least(landed, 40), 10, "the 40 events on the topic")
        assert len(records) == 40  # each once
        for r in records:  # a shard is the partition the case's key maps to
            assert r.partition == shards[r.key.decode()]
    finally:
        await publisher.close()


async def _at_least(read, n):
    got = await read()
    return got if len(got) >= n else None


class GatedPublisher:
    """The real publisher behind a gate: publish calls wait until the test opens it;
    `fail_next` makes the next call fail as a broker outage would."""

    def __init__(self, real):
        self.real = real
        self.gate = asyncio.Event()
        self.calls: list[int] = []  # records per call
        self.fail_next = False
        self.down = False

    async def publish(self, records):
        self.calls.append(len(records))
        await self.gate.wait()
        if self.down:
            raise ConnectionError("broker unreachable (test)")
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker unreachable (test)")
        await self.real.publish(records)


@pytest.fixture
async def relay_parts(infra_settings):
    await ensure_topics_async(infra_settings)
    requests = StoreRequests()
    store = Store(infra_settings, "intake", listeners=(requests,))
    await store.ensure_indexes()
    real = KafkaPublisher(infra_settings, "test-relay-memory")
    publisher = GatedPublisher(real)
    relay = OutboxRelay(store, publisher, poll_seconds=0.05, scan_grace_seconds=0.5)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: _async(store.on_commit is not None and not store.scan_needed), 10,
                     "the relay's start-up scan")
    try:
        yield store, relay, publisher, requests
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await real.close()
        await store.client.drop_database(store.db.name)
        await store.close()


async def _async(value):
    return value


def _emitting(case_id: str, sent: list):
    async def body(uow):
        event = _submitted(case_id)
        uow.emit(event)
        sent.append(event.event_id)
    return body


async def test_a_running_relay_publishes_commits_from_memory_and_marks_them_in_one_write(relay_parts, infra_settings):
    store, relay, publisher, requests = relay_parts
    publisher.gate.set()
    requests.clear()
    first: list = []
    await store.transact(_emitting(f"mem-{store.db.name}-0", first))  # returns once the broker has it
    assert publisher.calls == [1]
    assert requests.on[("find", OUTBOX)] == 0  # published from memory, not read back

    # While one publish is under way, the commits that land meanwhile queue up:
    # they go out in one producer flush and their receipts are deleted in one request.
    publisher.gate.clear()
    requests.clear()
    sent: list = []
    cases = [f"mem-{store.db.name}-{i}" for i in range(1, 21)]
    leader = asyncio.create_task(store.transact(_emitting(cases[0], sent)))
    await eventually(lambda: _async(len(publisher.calls) == 2), 10, "the first publish to start")
    followers = [asyncio.create_task(store.transact(_emitting(c, sent))) for c in cases[1:]]
    await eventually(lambda: _async(relay._queued_rows == 20), 10, "the 19 commits' rows queued behind it")
    # The backlog gauges say so while the publish is held (read when scraped, not when a round ends).
    assert REGISTRY.get_sample_value("secondlook_outbox_backlog", {"service": "intake"}) == 20
    assert REGISTRY.get_sample_value("secondlook_outbox_oldest_seconds", {"service": "intake"}) > 0
    publisher.gate.set()
    await asyncio.gather(leader, *followers)
    await eventually(lambda: _async(len(publisher.calls) == 3), 10, "the second publish round")
    assert publisher.calls[1:] == [1, 19]
    await eventually(lambda: _count(store, {"shard": RECEIPT_SHARD}, 0), 10, "every commit's receipt deleted")
    assert REGISTRY.get_sample_value("secondlook_outbox_backlog", {"service": "intake"}) == 0
    assert REGISTRY.get_sample_value("secondlook_outbox_oldest_seconds", {"service": "intake"}) == 0
    # The receipts of half a second go in one request: never one per commit, at most
    # one per round; no row is written again.
    assert 1 <= requests.on[("delete", OUTBOX)] <= 2
    assert requests.on[("update", OUTBOX)] == 0
    assert requests.on[("find", OUTBOX)] == 0
    assert await store.db[OUTBOX].count_documents({"published": False}) == 0

    async def landed():
        records = await read_topic(infra_settings.kafka_bootstrap_servers, PRODUCES["intake"])
        got = {decode(r.value).event_id for r in records}
        return got >= set(first + sent)

    await eventually(landed, 10, "the 21 events on the topic")


async def test_a_stopping_relay_writes_the_marks_still_waiting(relay_parts, monkeypatch):
    store, relay, publisher, _ = relay_parts
    monkeypatch.setattr(outbox_module, "MARK_INTERVAL", 60.0)  # no mark falls due while the test runs
    publisher.gate.set()
    await store.transact(_emitting(f"stop-{store.db.name}", []))  # returns once the broker has it
    assert relay._unmarked  # published, its receipt waiting to be deleted
    assert await _receipts(store) == 1
    relay_task = next(t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "OutboxRelay.run")
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)
    assert await _receipts(store) == 0  # the next start skips it


async def test_a_broker_reset_requeues_every_row_and_drops_marks_of_what_the_lost_broker_took(
        relay_parts, infra_settings, monkeypatch):
    store, relay, publisher, _ = relay_parts
    monkeypatch.setattr(outbox_module, "MARK_INTERVAL", 60.0)  # no mark falls due by itself
    publisher.gate.set()
    marked, waiting, under_way = (f"{name}-{store.db.name}" for name in ("marked", "waiting", "under-way"))
    sent: list = []
    await store.transact(_emitting(marked, sent))
    await relay._mark()  # on the (soon lost) broker and its receipt deleted
    await store.transact(_emitting(waiting, sent))  # on the broker, its receipt waiting
    assert relay._unmarked
    publisher.gate.clear()
    in_flight = asyncio.create_task(store.transact(_emitting(under_way, sent)))
    await eventually(lambda: _async(len(publisher.calls) == 3), 10, "the third publish to start")

    assert await relay.requeue_all() == 3  # every row (each is written published; two have receipts)
    assert relay._unmarked == []
    publisher.gate.set()  # the publish under way succeeds, on a broker that may be gone: its receipt stays
    await in_flight
    assert relay._unmarked == []
    await relay._mark()
    assert await store.db[OUTBOX].count_documents({"published": True}) == 0
    assert await _receipts(store) == 2

    # The scan (after its grace for young rows) sends all three again, once each; it marks
    # the rows, then deletes the receipts (two requests: wait for both).
    async def republished() -> bool:
        return await _count(store, {"published": True}, 3) and await _receipts(store) == 0

    await eventually(republished, 15, "all three rows published again and their receipts gone")

    async def landed_twice():
        records = await read_topic(infra_settings.kafka_bootstrap_servers, PRODUCES["intake"])
        got = [decode(r.value).event_id for r in records if decode(r.value).event_id in sent]
        return all(got.count(e) == 2 for e in sent) or Pending(got)

    await eventually(landed_twice, 15, "each event on the topic twice")


async def test_an_idle_relay_sends_the_store_nothing(relay_parts):
    store, relay, _, requests = relay_parts
    requests.clear()
    rounds = []

    async def went_round():
        if not rounds or relay.last_cycle != rounds[-1]:
            rounds.append(relay.last_cycle)
        return len(rounds) > 5

    await eventually(went_round, 10, "the relay to go round five times", interval=0.02)
    assert requests.total() == 0


async def test_a_failed_publish_keeps_the_commits_in_order_and_tries_again(relay_parts, infra_settings):
    store, relay, publisher, _ = relay_parts
    case_id = f"fail-{store.db.name}"
    sent: list = []
    publisher.fail_next = True
    first = asyncio.create_task(store.transact(_emitting(case_id, sent)))
    await eventually(lambda: _async(len(publisher.calls) == 1), 10, "the first publish to start")
    second = asyncio.create_task(store.transact(_emitting(case_id, sent)))
    await eventually(lambda: _async(relay._queued_rows == 2), 10, "the second commit queued")
    publisher.gate.set()  # the first call fails; the retry carries both, in commit order
    await asyncio.gather(first, second)
    await eventually(lambda: _async(len(publisher.calls) == 2), 10, "the publish tried again")
    assert publisher.calls == [1, 2]

    async def landed():
        records = await read_topic(infra_settings.kafka_bootstrap_servers, PRODUCES["intake"])
        got = [decode(r.value).event_id for r in records if r.key == case_id.encode()]
        return got if len(got) == 2 else None

    assert await eventually(landed, 10, "both events on the topic") == sent


async def test_rows_left_by_another_replica_are_scanned_when_their_shard_is_gained(relay_parts, infra_settings):
    store, relay, publisher, requests = relay_parts
    publisher.gate.set()
    owned: set[int] = set()
    relay.owned_shards = lambda: owned
    other = Store(infra_settings, "intake")  # a replica that died after committing: no relay took the rows
    try:
        async def body(uow):
            for i in range(12):
                uow.emit(_submitted(f"left-{store.db.name}-{i}"))

        await other.transact(body)
    finally:
        await other.close()
    assert await _receipts(store) == 1  # its rows never reached the broker
    owned.update({0, 1, 2, 3})  # the dead replica's shards come to this one
    # Committed just now, they are left to their committer at first; once older, the scan takes them.
    await eventually(lambda: _count(store, {"shard": RECEIPT_SHARD}, 0), 10, "the rows published by the scan")
    assert requests.on[("find", OUTBOX)] >= 2

    async def landed():
        records = await read_topic(infra_settings.kafka_bootstrap_servers, PRODUCES["intake"])
        return {r.key.decode() for r in records} >= {f"left-{store.db.name}-{i}" for i in range(12)}

    await eventually(landed, 10, "the 12 events on the topic")


async def _count(store, query, n):
    return await store.db[OUTBOX].count_documents(query) == n


async def _receipts(store) -> int:
    return await store.db[OUTBOX].count_documents({"shard": RECEIPT_SHARD})


async def test_past_the_memory_limit_the_queue_is_left_to_one_scan_and_order_holds(relay_parts, infra_settings,
                                                                                monkeypatch):
    """The broker stays away: past MEMORY_LIMIT the relay drops what it holds and
    queues nothing more; once the broker is back, one scan publishes every row in
    order, and only then do commits go out from memory again."""
    import secondlook.outbox as outbox_module

    store, relay, publisher, _ = relay_parts
    monkeypatch.setattr(outbox_module, "MEMORY_LIMIT", 3)
    monkeypatch.setattr(outbox_module, "RECEIPT_BATCH", 2)  # the scan pages through the commits' receipts
    case_id = f"flood-{store.db.name}"
    sent: list = []
    publisher.down = True
    publisher.gate.set()
    for _ in range(6):  # each returns after its bounded wait or at once once paused
        await store.transact(_emitting(case_id, sent))
    assert relay._paused and relay._queued_rows == 0
    # Nothing held in memory, but the oldest event still waits, and the gauge says so.
    assert REGISTRY.get_sample_value("secondlook_outbox_oldest_seconds", {"service": "intake"}) > 0
    publisher.down = False
    await eventually(lambda: _async(not relay._paused and not store.scan_needed), 30, "the scan after the pause")
    await store.transact(_emitting(case_id, sent))  # from memory again

    async def landed():
        records = await read_topic(infra_settings.kafka_bootstrap_servers, PRODUCES["intake"])
        ids = [decode(r.value).event_id for r in records if r.key == case_id.encode()]
        first_seen = list(dict.fromkeys(ids))
        return first_seen if len(first_seen) == 7 else None

    assert await eventually(landed, 20, "all seven events on the topic") == sent


class RecordingPublisher:
    """Keeps what it is given, in order; `during` runs inside a publish; `fail` fails them."""

    def __init__(self):
        self.records = []
        self.during = None
        self.fail = False

    async def publish(self, records):
        if self.during is not None:
            self.during()
        if self.fail:
            raise ConnectionError("broker unreachable (test)")
        self.records += records


async def test_after_a_requeue_a_scan_in_several_rounds_keeps_each_case_in_order(store, monkeypatch):
    """Every row re-queued, one commit's receipt still waiting: the receipt's later
    event of a case must not go out before the case's earlier ones, still rows."""
    monkeypatch.setattr(outbox_module, "BATCH", 3)
    publisher = RecordingPublisher()
    relay = OutboxRelay(store, publisher, 0.1, scan_grace_seconds=0)

    def emitting(case_id: str, n: int):
        async def body(uow):
            for _ in range(n):
                uow.emit(_submitted(case_id))
        return body

    for case_id, n in (("a", 3), ("z", 3)):  # published long ago: their receipts are gone
        await store.transact(emitting(case_id, n))
        await store.db[OUTBOX].delete_many({"shard": RECEIPT_SHARD})
    await store.transact(emitting("z", 1))  # z's fourth, its receipt still there
    assert await relay.requeue_all() == 7

    await relay._scan()
    order = [(r.key.decode(), decode(r.value).event_id) for r in publisher.records]
    z_rows = await store.db[OUTBOX].find({"case_id": "z"}).sort("_id", 1).to_list()
    z_sent = list(dict.fromkeys(e for k, e in order if k == "z"))
    assert z_sent == [decode(bytes(r["payload"])).event_id for r in z_rows]  # 1, 2, 3, 4: never 4 first
    assert await store.db[OUTBOX].count_documents({"published": False}) == 0  # the receipt too is settled


async def test_a_request_for_every_shard_made_during_a_scan_is_kept_for_the_next(store):
    publisher = RecordingPublisher()
    relay = OutboxRelay(store, publisher, 0.1, scan_grace_seconds=0)
    relay.owned_shards = lambda: {0}
    await store.transact(lambda uow: _emit(uow, "kept"))
    store.request_scan(every_shard=True)
    publisher.during = lambda: store.request_scan(every_shard=True)  # a commit's outcome lost meanwhile
    await relay._scan()
    assert store.scan_needed and store.scan_every_shard


async def test_a_scan_that_fails_to_end_a_pause_leaves_the_relay_paused(store):
    publisher = RecordingPublisher()
    relay = OutboxRelay(store, publisher, 0.1, scan_grace_seconds=0)
    await store.transact(lambda uow: _emit(uow, "paused"))
    relay._paused = True  # past the memory limit: commits are left to this scan
    publisher.fail = True
    with pytest.raises(ConnectionError):
        await relay._scan()
    assert relay._paused and store.scan_needed  # new commits still wait behind the paused ones


async def _emit(uow, case_id: str) -> None:
    uow.emit(_submitted(case_id))

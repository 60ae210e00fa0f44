"""Group commit: the consumer applies a batch of events (of different cases) in
as few store requests as it can, and the loop gathers what arrives while a
batch is being applied into the next one. Against the real store and broker."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import AutoReconnect

from secondlook.bus import KafkaPublisher, Record
from secondlook.consumer import Guarded, IdempotentConsumer, Incoming, PermanentError, StoreUnavailable
from secondlook.consumerloop import ConsumerLoop
from secondlook.events import headers_of, new_event
from secondlook.store import OUTBOX, PROCESSED, Store
from secondlook.topics import DEAD_LETTER, ensure_topics
from secondlook.v1 import events_pb2
from services.topology import ALL_TOPICS
from tests.conftest import eventually
from tests.integration.store_requests import StoreRequests

pytestmark = pytest.mark.integration


def _offered(case_id: str):
    return new_event(events_pb2.SpecialistOffered(assignment_id=f"a-{case_id}", specialist_id="s1"),
                     case_id=case_id, tenant_id="t", producer="matching")


def _incoming(event, offset=0):
    return Incoming("secondlook.matching.events.v1", 0, offset, event.case_id.encode(), event.SerializeToString())


async def _accepting(event, uow):
    """Writes an effect and causes an event, as matching's and review's handlers do."""
    if event.case_id.endswith("bad"):
        raise PermanentError("assignment_id: breaks a rule")
    await uow.db.effects.insert_one({"_id": event.case_id}, session=uow.session)
    uow.emit(new_event(events_pb2.AssignmentAccepted(assignment_id=event.specialist_offered.assignment_id),
                       case_id=event.case_id, tenant_id="t", producer="review"))


async def _first_batch_held_while_polling(loop: ConsumerLoop, batches: list) -> None:
    """Waits until the loop's first batch is in hand (held by the test) and the poll
    loop has gone round since, fetching what arrives behind it."""
    async def held():
        return bool(batches)

    await eventually(held, 60, "the first batch in hand")
    seen_at = loop.last_poll

    async def polled_again():
        return loop.last_poll > seen_at + 0.5

    await eventually(polled_again, 10, "the poll loop to go round again")


@pytest.fixture
async def counted(infra_settings):
    await asyncio.to_thread(ensure_topics, infra_settings, ALL_TOPICS)
    requests = StoreRequests()
    store = Store(infra_settings, "review", listeners=(requests,))
    await store.ensure_indexes()
    publisher = KafkaPublisher(infra_settings, "test-group-commit")
    yield store, publisher, requests
    await publisher.close()
    await store.client.drop_database(store.db.name)
    await store.close()


async def test_a_batch_commits_in_one_transaction_with_its_markers_read_and_written_once(counted):
    store, publisher, requests = counted
    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": _accepting}, group="g-batch")
    repeat = _offered("c-repeat")
    assert await consumer.handle(_incoming(repeat)) == "applied"
    events = [_offered(f"c-{i}") for i in range(10)]
    requests.clear()

    outcomes = await consumer.handle_batch([_incoming(e, i) for i, e in enumerate([*events, repeat])])

    assert outcomes == ["applied"] * 10 + ["duplicate"]
    assert requests.counts["commitTransaction"] == 1
    assert requests.on[("find", PROCESSED)] == 1
    assert requests.on[("insert", PROCESSED)] == 1
    assert requests.on[("insert", OUTBOX)] == 1
    assert await store.db.effects.count_documents({}) == 11
    assert await store.db[OUTBOX].count_documents({"type": "assignment.accepted"}) == 11
    assert await store.db[PROCESSED].count_documents({}) == 11


async def test_an_event_that_breaks_a_rule_goes_alone_and_the_rest_of_its_batch_is_applied(counted):
    store, publisher, _ = counted
    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": _accepting}, group="g-batch-bad",
                                  max_attempts=2, retry_base_seconds=0.01)
    events = [_offered("c-0"), _offered("c-bad"), _offered("c-2")]

    outcomes = await consumer.handle_batch([_incoming(e, i) for i, e in enumerate(events)])

    assert outcomes == ["applied", "dead_lettered", "applied"]
    assert sorted(d["_id"] for d in await store.db.effects.find({}).to_list()) == ["c-0", "c-2"]
    assert await store.db[PROCESSED].count_documents({"case_id": "c-bad"}) == 0
    assert await store.db[OUTBOX].count_documents({"case_id": "c-bad"}) == 0


async def test_a_guarded_handler_applies_a_batch_in_its_own_batched_write(counted):
    store, publisher, requests = counted
    from pymongo import UpdateOne

    async def insert_once(event):
        result = await store.db.effects.update_one({"_id": event.event_id}, {"$setOnInsert": {"n": 1}}, upsert=True)
        return result.upserted_id is not None

    async def insert_many_once(events):
        result = await store.db.effects.bulk_write(
            [UpdateOne({"_id": e.event_id}, {"$setOnInsert": {"n": 1}}, upsert=True) for e in events], ordered=False)
        return [i in result.upserted_ids for i in range(len(events))]

    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": Guarded(insert_once, insert_many_once)},
                                  group="g-guarded-batch")
    repeat = _offered("c-seen")
    assert await consumer.handle(_incoming(repeat)) == "applied"
    requests.clear()

    outcomes = await consumer.handle_batch([_incoming(e) for e in [_offered("c-a"), repeat, _offered("c-b")]])

    assert outcomes == ["applied", "duplicate", "applied"]
    assert requests.total() == 1  # one batched write, no transaction, no marker
    assert await store.db.effects.count_documents({}) == 3
    assert await store.db[PROCESSED].count_documents({}) == 0


async def test_records_arriving_while_a_batch_is_applied_go_together_in_the_next(counted, infra_settings):
    store, publisher, _ = counted
    settings = infra_settings.model_copy(update={"kafka_topic_partitions": 1})
    topic = f"it.group.{store.db.name}"
    await asyncio.to_thread(ensure_topics, settings, (topic, DEAD_LETTER))
    events = [_offered(f"g-{i}") for i in range(12)]
    await publisher.publish([Record(topic, e.case_id.encode(), e.SerializeToString(), headers_of(e)) for e in events])

    gate = asyncio.Event()
    sizes: list[int] = []

    class Watched(IdempotentConsumer):
        async def handle_batch(self, records):
            sizes.append(len(records))
            await gate.wait()  # the first batch is held: the others pile up behind it
            return await super().handle_batch(records)

    group = f"g-{topic}"
    consumer = Watched(store, publisher, {"specialist.offered": _accepting}, group=group)
    loop = ConsumerLoop(settings, consumer, [topic], group=group, max_concurrency=1)
    task = asyncio.create_task(loop.run())
    try:
        await _first_batch_held_while_polling(loop, sizes)
        assert len(sizes) == 1  # one batch at a time
        gate.set()

        async def all_applied():
            return await store.db.effects.count_documents({}) == len(events)

        await eventually(all_applied, 30, "every event applied")
        assert sum(sizes) == len(events)
        assert len(sizes) < len(events) and max(sizes) > 1  # applied together, not one by one
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_transactions_arriving_together_share_a_commit_and_keep_their_own_results(counted):
    store, _, requests = counted

    def body(i: int):
        async def write(uow):
            if i == 7:
                raise ValueError("case_id: this one breaks a rule")
            await uow.db.effects.insert_one({"_id": i}, session=uow.session)
            uow.emit(_offered(f"shared-{i}"))
            return i
        return write

    requests.clear()
    outcomes = await asyncio.gather(*(store.transact(body(i)) for i in range(12)), return_exceptions=True)

    assert outcomes[:7] + outcomes[8:] == [i for i in range(12) if i != 7]  # each its own result
    assert isinstance(outcomes[7], ValueError)  # its own error, to its own caller
    assert sorted(d["_id"] for d in await store.db.effects.find({}).to_list()) == [i for i in range(12) if i != 7]
    assert await store.db[OUTBOX].count_documents({"case_id": "shared-7"}) == 0
    assert await store.db[OUTBOX].count_documents({"shard": {"$gte": 0}}) == 11  # rows, not receipts
    # The first two ran at once; the ten that arrived meanwhile shared one transaction,
    # which the broken one aborted: they ran again, one by one.
    assert requests.counts["commitTransaction"] == 2 + 9
    assert requests.counts["abortTransaction"] >= 1


async def test_a_group_without_failures_commits_once(counted):
    store, _, requests = counted

    def body(i: int):
        async def write(uow):
            await uow.db.effects.insert_one({"_id": i}, session=uow.session)
            return i
        return write

    requests.clear()
    assert await asyncio.gather(*(store.transact(body(i)) for i in range(12))) == list(range(12))
    assert requests.counts["commitTransaction"] == 3  # two at once, then the ten that waited, together


async def test_a_group_whose_outcome_is_unknown_is_not_run_again(counted, monkeypatch):
    """A commit whose outcome was lost may have landed: re-running each body alone
    could apply it twice, so every body gets the error instead."""
    store, _, _ = counted
    from pymongo.errors import PyMongoError

    runs = []

    async def lost_outcome(bodies):
        runs.append(len(bodies))
        if len(bodies) > 1:
            raise PyMongoError("commit outcome unknown", error_labels=["UnknownTransactionCommitResult"])
        return [(None, None)]

    monkeypatch.setattr(store, "_transact", lost_outcome)

    async def body(uow):
        return None

    outcomes = await asyncio.gather(*(store.transact(body) for _ in range(6)), return_exceptions=True)
    assert runs == [1, 1, 4]  # two alone at once, then four together; never the four again one by one
    assert all(isinstance(o, PyMongoError) for o in outcomes[2:])


@pytest.mark.parametrize("fold", [True, False])
async def test_a_folding_consumer_gets_a_case_s_waiting_records_together_in_order(counted, infra_settings, fold):
    store, publisher, _ = counted
    settings = infra_settings.model_copy(update={"kafka_topic_partitions": 1})
    topic = f"it.fold.{fold}.{store.db.name}"
    await asyncio.to_thread(ensure_topics, settings, (topic, DEAD_LETTER))
    first = _offered("fold-0")  # held in the first batch while the rest arrive
    rest = [_offered(f"fold-{i % 2 + 1}") for i in range(8)]
    await publisher.publish([Record(topic, e.case_id.encode(), e.SerializeToString(), headers_of(e))
                             for e in [first, *rest]])
    gate = asyncio.Event()
    batches: list[list[tuple[bytes, int]]] = []
    applied: list[str] = []

    class Watched(IdempotentConsumer):
        async def handle_batch(self, records):
            batches.append([(r.key, r.offset) for r in records])
            await gate.wait()
            return await super().handle_batch(records)

    async def one(event):
        applied.append(event.event_id)
        return True

    async def many(events):
        applied.extend(e.event_id for e in events)
        return [True] * len(events)

    group = f"g-{topic}"
    consumer = Watched(store, publisher, {"specialist.offered": Guarded(one, many)}, group=group)
    loop = ConsumerLoop(settings, consumer, [topic], group=group, max_concurrency=1, fold_case_records=fold)
    task = asyncio.create_task(loop.run())
    try:
        await _first_batch_held_while_polling(loop, batches)
        gate.set()

        async def all_applied():
            return len(applied) == 9

        await eventually(all_applied, 30, "every event applied")
        for case_id in ("fold-1", "fold-2"):  # each case's events applied in the order they were sent
            sent = [e.event_id for e in rest if e.case_id == case_id]
            assert [i for i in applied if i in sent] == sent
        for batch in batches:
            for key in {k for k, _ in batch}:
                offsets = [o for k, o in batch if k == key]
                assert offsets == sorted(offsets)  # a case's records in the order they came
        most = max(sum(1 for k, _ in b if k == b"fold-1") for b in batches)
        if fold:
            assert most == 4  # the case's four waiting records in one batch
        else:
            assert most == 1  # one record of a case at a time
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_one_by_one_a_case_stops_at_its_first_failure_and_its_later_events_wait(counted):
    """The batch could not be applied together; alone, the case's first event finds
    the store away: its later events are not applied before it, and all three come
    back with the error, for the loop to hand over again, from the first."""
    store, publisher, _ = counted
    events = [_offered("stop-1") for _ in range(3)] + [_offered("stop-2")]
    applied: list[str] = []

    async def one(event):
        if event.event_id == events[0].event_id and not applied:
            raise AutoReconnect("store away (test)")
        applied.append(event.event_id)
        return True

    async def many(batch):
        return [None] * len(batch)  # each alone

    consumer = IdempotentConsumer(store, publisher, {"specialist.offered": Guarded(one, many)}, group="g-stop")
    outcomes = await consumer.handle_batch([_incoming(e, i) for i, e in enumerate(events)])
    assert all(isinstance(o, StoreUnavailable) for o in outcomes[:3])
    assert outcomes[3] == "applied" and applied == [events[3].event_id]  # another case goes on

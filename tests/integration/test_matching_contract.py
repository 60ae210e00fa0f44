"""matching's repository contract against the in-memory fake and the real store,
and the atomic reservation under concurrency on the real one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from secondlook.clock import Clock, FakeClock
from secondlook.deadlines import Deadlines
from secondlook.events import new_event
from secondlook.store import OUTBOX, Store, rows_of_case
from secondlook.unitofwork import transactor
from secondlook.v1 import events_pb2
from services.matching import reference, repository, usecases
from services.matching.domain.directory import AlreadyListed, DirectoryQuery, Specialist, deactivated, listed
from services.matching.domain.matcher import CaseFacts
from services.matching.domain.offers import MAX_SENDS, RESEND_AFTER, Offer, OfferRules, Waiting
from services.matching.repository import DirectoryCache, MatchingUnitOfWork
from services.matching.specialistdoc import specialist_from_doc
from tests.conftest import Pending, eventually
from tests.fakes.matching import matching_transact
from tests.integration.store_requests import QueryPlans

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
def _licences(*places):
    return [{"jurisdiction": p, "expires": "2099-12-31"} for p in places]


SPECIALISTS = [
    {"specialist_id": "onc-ca", "specialties": ["207RX0202X"], "licences": _licences("US-CA"), "languages": ["en"],
     "capacity": 1, "accepting": True, "turnaround_days": 3.0},
    {"specialist_id": "neuro-ca", "specialties": ["2084N0400X"], "licences": _licences("US-CA", "US-NY"),
     "languages": ["en"], "capacity": 2, "accepting": True, "turnaround_days": 4.0},
    {"specialist_id": "onc-off", "specialties": ["207RX0202X"], "licences": _licences("US-CA"), "languages": ["en"],
     "capacity": 5, "accepting": False, "turnaround_days": 2.0},
]


for _e in SPECIALISTS:
    _e["certifications"] = [{"board": "ABIM", "specialty": x, "expires": "2099-12-31"} for x in _e["specialties"]]

POLICY = usecases.MatchPolicy(reference.specialty_map(), OfferRules(ttl_seconds=3600))


def _entity(e) -> Specialist:
    return specialist_from_doc({**e, "_id": e["specialist_id"]})


@pytest.fixture
async def mongo_store(infra_settings, tmp_path):
    plans = QueryPlans()
    store = Store(infra_settings, "matching", listeners=(plans,))
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)
    seed = tmp_path / "specialists.json"
    seed.write_text(json.dumps(SPECIALISTS))
    assert await repository.seed_if_empty(store.db, seed) == 3
    assert await repository.seed_if_empty(store.db, seed) == 0  # only an empty directory is seeded
    yield store
    scans = plans.scans()
    assert not scans, "\n".join(scans)
    await store.client.drop_database(store.db.name)
    await store.close()


@pytest.fixture(params=["fake", "mongo"])
async def transact(request, mongo_store):
    if request.param == "fake":
        return matching_transact(*(_entity(e) for e in SPECIALISTS))
    return _transactor(mongo_store)


def _transactor(store: Store, cache: DirectoryCache | None = None, deadlines: Deadlines | None = None):
    cache = cache or DirectoryCache(store.db, ttl_seconds=3600)
    deadlines = Deadlines(Clock()) if deadlines is None else deadlines  # an empty one is falsy
    return transactor(store, lambda uow: MatchingUnitOfWork(uow, cache, deadlines))


FACTS = CaseFacts(case_id="c1", diagnosis_code="C50.911", jurisdiction="US-CA", language="en", tenant_id="t")


def _offer(assignment_id: str, specialist_id: str) -> Offer:
    return Offer(assignment_id, "c1", "t", specialist_id, "207RX0202X", 0.9, "why", T0, T0)


async def test_candidates_are_prefiltered_by_specialty_and_licence(transact):
    index = await transact(lambda uow: uow.directory.index())
    assert sorted(s.specialist_id for s in index.candidates(("207RX0202X",), "US-CA")) == ["onc-ca", "onc-off"]
    assert [s.specialist_id for s in index.candidates(("2084N0400X", "207RX0202X"), "US-NY")] == ["neuro-ca"]


async def test_an_admin_change_is_guarded_by_the_version_read_and_keeps_the_slots_in_use(transact):
    seeded = await transact(lambda uow: uow.directory.specialist("neuro-ca"))
    assert seeded.version == 0 and seeded.free_slots == 2  # seeded before versions: version 0
    assert await transact(lambda uow: uow.directory.reserve("neuro-ca", "a1"))
    held = await transact(lambda uow: uow.directory.specialist("neuro-ca"))
    bigger = listed(held, dataclasses.replace(held, capacity=5, display_name="Dr. N"))
    assert await transact(lambda uow: uow.directory.save_specialist(bigger, held))
    now = await transact(lambda uow: uow.directory.specialist("neuro-ca"))
    assert (now.version, now.capacity, now.free_slots, now.display_name) == (1, 5, 4, "Dr. N")
    assert not await transact(lambda uow: uow.directory.save_specialist(bigger, held))  # version 0 is gone
    fresh = dataclasses.replace(bigger, specialist_id="new-one", version=1, free_slots=5)
    assert await transact(lambda uow: uow.directory.save_specialist(fresh, None))
    with pytest.raises(AlreadyListed):  # created meanwhile (in the store, it ends the transaction)
        await transact(lambda uow: uow.directory.save_specialist(fresh, None))
    assert (await transact(lambda uow: uow.directory.specialist("new-one"))).free_slots == 5
    assert await transact(lambda uow: uow.directory.specialist("nobody")) is None


async def test_the_directory_lists_by_filter_in_id_order(transact):
    today = T0.date()

    async def ids(query, after="", limit=10):
        return [s.specialist_id for s in await transact(
            lambda uow: uow.directory.list_specialists(query, after, limit, today))]

    assert await ids(DirectoryQuery()) == ["neuro-ca", "onc-ca", "onc-off"]
    assert await ids(DirectoryQuery(), after="neuro-ca", limit=1) == ["onc-ca"]
    assert await ids(DirectoryQuery(specialty="207RX0202X")) == ["onc-ca", "onc-off"]
    assert await ids(DirectoryQuery(jurisdiction="US-NY")) == ["neuro-ca"]
    assert await ids(DirectoryQuery(specialty="207RX0202X", accepting_only=True)) == ["onc-ca"]
    assert await ids(DirectoryQuery(language="EN-us")) == ["neuro-ca", "onc-ca", "onc-off"]
    assert await ids(DirectoryQuery(language="es")) == []
    # A licence that expired is no licence there.
    assert await transact(lambda uow: uow.directory.list_specialists(
        DirectoryQuery(jurisdiction="US-NY"), "", 10, date(2100, 1, 1))) == []


async def test_reserve_takes_free_slots_of_accepting_specialists_only(transact):
    assert await transact(lambda uow: uow.directory.reserve("onc-ca", "a1")) is True
    assert await transact(lambda uow: uow.directory.reserve("onc-ca", "a2")) is False  # capacity 1
    assert await transact(lambda uow: uow.directory.reserve("onc-off", "a3")) is False  # not accepting
    assert await transact(lambda uow: uow.directory.reserve("nobody", "a4")) is False
    neuro = await transact(lambda uow: uow.directory.specialist("neuro-ca"))
    assert await transact(lambda uow: uow.directory.save_specialist(deactivated(neuro), neuro))
    assert await transact(lambda uow: uow.directory.reserve("neuro-ca", "a5")) is False  # deactivated


async def test_a_slot_is_released_once_and_only_by_the_assignment_holding_it(transact):
    assert await transact(lambda uow: uow.directory.reserve("onc-ca", "a1")) is True
    assert await transact(lambda uow: uow.directory.release([("onc-ca", "a1")])) == [True]
    assert await transact(lambda uow: uow.directory.release([("onc-ca", "a1")])) == [False]  # a repeat
    assert await transact(lambda uow: uow.directory.release([("onc-ca", "never-held")])) == [False]
    assert await transact(lambda uow: uow.directory.reserve("onc-ca", "a2")) is True  # the one slot is back
    assert await transact(lambda uow: uow.directory.reserve("neuro-ca", "b1")) is True
    assert await transact(lambda uow: uow.directory.reserve("neuro-ca", "b2")) is True
    released = await transact(lambda uow: uow.directory.release([("neuro-ca", "b1"), ("neuro-ca", "b2")]))
    assert released == [True, True]  # several at once
    mixed = await transact(lambda uow: uow.directory.release([("onc-ca", "a2"), ("neuro-ca", "b1")]))
    assert mixed in ([True, False], [None, None])  # one request may not tell which: those go alone
    assert await transact(lambda uow: uow.directory.release([])) == []  # nothing to give back: no request


async def test_concurrent_reservations_never_overbook(mongo_store):
    """Ten transactions race for neuro-ca's two slots: exactly two win."""
    transact = _transactor(mongo_store)

    async def attempt(i: int) -> bool:
        async def body(uow):
            if not await uow.directory.reserve("neuro-ca", f"race-{i}"):
                return False
            await uow.directory.add_offer(_offer(f"race-{i}", "neuro-ca"), FACTS)
            return True

        return await transact(body)

    results = await asyncio.gather(*(attempt(i) for i in range(10)))
    assert sum(results) == 2
    doc = await mongo_store.db[repository.SPECIALISTS].find_one({"_id": "neuro-ca"})
    assert doc["free_slots"] == 0
    assert await mongo_store.db[repository.ASSIGNMENTS].count_documents({"specialist_id": "neuro-ca"}) == 2


def _submitted(case_id: str):
    return new_event(events_pb2.CaseSubmitted(diagnosis_code="C50.911", jurisdiction="US-CA", language="en"),
                     case_id=case_id, tenant_id="t", producer="intake")


async def _match(store: Store, transact, case_id: str) -> list[str]:
    """The events matching the case caused, as committed to the outbox."""
    await transact(lambda uow: usecases.match_case(uow, _submitted(case_id), FakeClock(), POLICY))
    return [r["type"] for r in await store.db[OUTBOX].find(rows_of_case(case_id)).sort("_id", 1).to_list()]


async def test_the_directory_in_memory_is_a_hint_a_case_is_unmatched_only_on_a_fresh_read(mongo_store):
    """Another replica took onc-ca's slot, then gave it back: this replica's directory,
    read in between, says onc-ca is full. The case still gets its offer, from a
    fresh read; and a slot the memory says is free but the store says is taken is
    never handed out."""
    cache = DirectoryCache(mongo_store.db, ttl_seconds=3600)
    mine, other = _transactor(mongo_store, cache), _transactor(mongo_store)
    assert await other(lambda uow: uow.directory.reserve("onc-ca", "elsewhere-1")) is True
    assert {s.specialist_id: s.free_slots for s in await cache.specialists()}["onc-ca"] == 0  # read now: full
    assert await other(lambda uow: uow.directory.release([("onc-ca", "elsewhere-1")])) == [True]

    assert await _match(mongo_store, mine, "hint-1") == ["matching.started", "specialist.offered"]
    doc = await mongo_store.db[repository.SPECIALISTS].find_one({"_id": "onc-ca"})
    assert doc["free_slots"] == 0 and len(doc["holding"]) == 1
    # Its memory now says full (its own reservation), and so does the store: the case
    # waits for a free slot, after a fresh read says so.
    assert await _match(mongo_store, mine, "hint-2") == ["matching.started", "case.waiting"]
    assert await mongo_store.db[repository.ASSIGNMENTS].count_documents({"case_id": "hint-2"}) == 0
    # Another replica gives the slot back and takes it again: this replica's memory says
    # free, the store says taken. No overbooking: the reservation is refused, and the
    # case waits, on the fresh read.
    held = doc["holding"][0]
    assert await other(lambda uow: uow.directory.release([("onc-ca", held)])) == [True]
    await cache.specialists(fresh=True)  # memory: one slot free
    assert await other(lambda uow: uow.directory.reserve("onc-ca", "elsewhere-2")) is True
    assert await _match(mongo_store, mine, "hint-3") == ["matching.started", "case.waiting"]
    doc = await mongo_store.db[repository.SPECIALISTS].find_one({"_id": "onc-ca"})
    assert doc["free_slots"] == 0 and doc["holding"] == ["elsewhere-2"]


async def test_the_index_follows_every_replicas_commits_through_the_change_stream(mongo_store):
    cache = DirectoryCache(mongo_store.db, ttl_seconds=3600)
    await cache.index()
    following = asyncio.create_task(cache.follow())
    other = _transactor(mongo_store)  # another replica: its own cache, its own commits
    try:
        # The stream opens "from now": what went by before is read whole again.
        await eventually(lambda: _settled(cache._read_at is None), 10, "the change stream to open")
        index = await cache.index()
        assert index.get("onc-ca").free_slots == 1
        assert await other(lambda uow: uow.directory.reserve("onc-ca", "elsewhere")) is True

        async def seen(specialist_id, check):
            return check(index.get(specialist_id)) or Pending(index.get(specialist_id))

        await eventually(lambda: seen("onc-ca", lambda s: s.free_slots == 0), 10, "the other replica's reservation")
        neuro = await other(lambda uow: uow.directory.specialist("neuro-ca"))
        moved = listed(neuro, dataclasses.replace(neuro, specialties=("207RX0202X",)))
        assert await other(lambda uow: uow.directory.save_specialist(moved, neuro))
        await eventually(lambda: seen("neuro-ca", lambda s: s.specialties == ("207RX0202X",)), 10,
                         "the other replica's admin change")
        # ... and the index moved it between buckets: an oncology case in New York now finds it.
        assert [s.specialist_id for s in index.candidates(("207RX0202X",), "US-NY")] == ["neuro-ca"]
        assert index.candidates(("2084N0400X",), "US-NY") == []
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


async def _settled(value):
    return value


async def test_an_offer_awaits_one_answer_and_its_deadline_goes_to_review_once(transact):
    later = T0 + timedelta(hours=1)
    offers = [dataclasses.replace(_offer("o1", "onc-ca"), respond_by=T0),
              dataclasses.replace(_offer("o2", "onc-ca"), respond_by=T0),
              dataclasses.replace(_offer("o3", "onc-ca"), respond_by=later)]

    async def add(uow):
        for offer in offers:
            await uow.directory.add_offer(offer, FACTS)

    await transact(add)
    declined = await transact(lambda uow: uow.directory.close_offer("o1", "declined"))
    assert (declined.assignment_id, declined.state, declined.specialist_id) == ("o1", "declined", "onc-ca")
    assert await transact(lambda uow: uow.directory.close_offer("o1", "declined")) is None  # answered once
    assert await transact(lambda uow: uow.directory.offer_accepted("o2"))
    assert not await transact(lambda uow: uow.directory.offer_accepted("o2"))
    assert await transact(lambda uow: uow.directory.close_offer("o2", "expired")) is None  # accepted first
    ids = ["o1", "o2", "o3", "unknown"]
    assert await transact(lambda uow: uow.directory.offers_overdue(ids, T0)) == []  # o3 is not due yet
    [overdue] = await transact(lambda uow: uow.directory.offers_overdue(ids, later))
    assert (overdue.assignment_id, overdue.state, overdue.case_id) == ("o3", "expiring", "c1")
    assert await transact(lambda uow: uow.directory.offers_overdue(ids, later)) == []  # sent once
    assert (await transact(lambda uow: uow.directory.close_offer("o3", "expired"))).state == "expired"
    await transact(lambda uow: uow.directory.add_offer(dataclasses.replace(_offer("o4", "onc-ca")), FACTS))
    await transact(lambda uow: uow.directory.close_offers_of_case("c1"))
    states = {o.assignment_id: o.state for o in (await transact(lambda uow: uow.directory.decision("c1"))).offers}
    assert states == {"o1": "declined", "o2": "accepted", "o3": "expired", "o4": "withdrawn"}


async def test_a_deactivated_specialists_open_offers_alone_are_taken_back_once(transact):
    async def add(uow):
        for offer in (_offer("o1", "onc-ca"), _offer("o2", "onc-ca"), _offer("o3", "other"),
                      dataclasses.replace(_offer("o4", "onc-ca"), respond_by=T0)):
            await uow.directory.add_offer(offer, FACTS)

    await transact(add)
    assert await transact(lambda uow: uow.directory.offer_accepted("o2"))
    [due] = await transact(lambda uow: uow.directory.offers_overdue(["o4"], T0))  # already on its way to review
    assert due.assignment_id == "o4"
    [taken] = await transact(lambda uow: uow.directory.take_back_open_offers("onc-ca"))
    assert (taken.assignment_id, taken.state, taken.specialist_id, taken.case_id) == ("o1", "expiring", "onc-ca", "c1")
    assert await transact(lambda uow: uow.directory.take_back_open_offers("onc-ca")) == []  # once
    states = {o.assignment_id: o.state for o in (await transact(lambda uow: uow.directory.decision("c1"))).offers}
    assert states == {"o1": "expiring", "o2": "accepted", "o3": "open", "o4": "expiring"}


def _submitted_event():
    return new_event(events_pb2.CaseSubmitted(diagnosis_code="C50.911", jurisdiction="US-CA", language="en"),
                     case_id="c1", tenant_id="t", producer="intake")


async def test_a_waiting_case_is_kept_whole_until_removed(transact):
    cause = _submitted_event()
    waiting = Waiting(FACTS, cause, T0)
    await transact(lambda uow: uow.directory.add_waiting(waiting, T0 + timedelta(seconds=30)))
    await transact(lambda uow: uow.directory.add_waiting(Waiting(FACTS, cause, T0 + timedelta(hours=1)), T0))
    found = await transact(lambda uow: uow.directory.waiting("c1"))  # the first add stands: a repeat adds nothing
    assert (found.facts, found.cause, found.since, found.tries) == (FACTS, cause, T0, 0)
    await transact(lambda uow: uow.directory.wait_longer("c1", 2, T0 + timedelta(minutes=3)))
    assert (await transact(lambda uow: uow.directory.waiting("c1"))).tries == 2
    explained = await transact(lambda uow: uow.directory.decision("c1"))  # what ExplainMatch reads
    assert (explained.facts, explained.offers, explained.unmatched_reasons, explained.waiting_since) == (
        FACTS, (), (), T0)
    await transact(lambda uow: uow.directory.remove_waiting("c1"))
    assert await transact(lambda uow: uow.directory.waiting("c1")) is None
    assert await transact(lambda uow: uow.directory.decision("c1")) is None
    await transact(lambda uow: uow.directory.remove_waiting("c1"))  # again: nothing
    assert await transact(lambda uow: uow.directory.waiting("elsewhere")) is None
    # Waiting again after declined offers: who was offered it before is kept, never offered again.
    again = Waiting(FACTS, cause, T0, specialties=("207RX0202X",), offered=("onc-ca", "onc-ny"))
    await transact(lambda uow: uow.directory.add_waiting(again, T0))
    assert await transact(lambda uow: uow.directory.waiting("c1")) == again


async def test_waiting_cases_queue_oldest_first_expedited_ahead_and_take_records_added_meanwhile(transact):
    for case_id, urgency, since, place in (("old", 1, T0, "US-CA"), ("new", 1, T0 + timedelta(minutes=5), "US-CA"),
                                           ("urgent", 2, T0 + timedelta(minutes=9), "US-CA"),
                                           ("texan", 1, T0 - timedelta(minutes=1), "US-TX"),
                                           ("declined", 1, T0 - timedelta(minutes=2), "US-CA")):
        facts = dataclasses.replace(FACTS, case_id=case_id, urgency=urgency, jurisdiction=place)
        waiting = Waiting(facts, _submitted_event(), since, specialties=("207RX0202X",),
                          offered=("onc-ca",) if case_id == "declined" else ())
        await transact(lambda uow, w=waiting, t=since: uow.directory.add_waiting(w, t))
    assert await transact(lambda uow: uow.directory.oldest_waiting(2)) == ["urgent", "declined"]
    assert await transact(lambda uow: uow.directory.count_waiting()) == 5  # secondlook_cases_waiting
    assert await transact(lambda uow: uow.directory.oldest_waiting(10)) == ["urgent", "declined", "texan", "old",
                                                                            "new"]
    # A slot of onc-ca's (oncology, licensed in California) fits the Californian cases only,
    # but the one it was offered before (and declined).
    onc = await transact(lambda uow: uow.directory.specialist("onc-ca"))
    assert await transact(lambda uow: uow.directory.oldest_waiting(10, could_take=onc)) == ["urgent", "old", "new"]
    neuro = await transact(lambda uow: uow.directory.specialist("neuro-ca"))
    assert await transact(lambda uow: uow.directory.oldest_waiting(10, could_take=neuro)) == []
    await transact(lambda uow: uow.directory.records_added("new", 3))
    assert (await transact(lambda uow: uow.directory.waiting("new"))).facts.records == FACTS.records + 3


async def test_a_waiting_cases_next_try_is_armed_on_commit_reloaded_by_index_and_disarmed_when_it_stops(mongo_store):
    deadlines = Deadlines(Clock())
    transact = _transactor(mongo_store, deadlines=deadlines)
    await transact(lambda uow: uow.directory.add_waiting(Waiting(FACTS, _submitted_event(), T0),
                                                         T0 + timedelta(seconds=30)))
    assert deadlines.due(T0 + timedelta(seconds=30)) == [repository.WAITING_KEY + "c1"]
    await transact(lambda uow: uow.directory.wait_longer("c1", 1, T0 + timedelta(seconds=90)))
    directory = repository.MongoMatchingRepository(mongo_store.db, DirectoryCache(mongo_store.db, 3600), deadlines)
    assert (repository.WAITING_KEY + "c1", T0 + timedelta(seconds=90)) in await directory.open_deadlines()
    await transact(lambda uow: uow.directory.remove_waiting("c1"))
    assert repository.WAITING_KEY + "c1" not in deadlines
    assert not [k for k, _ in await directory.open_deadlines() if k.startswith(repository.WAITING_KEY)]


async def test_a_slot_coming_free_is_told_but_a_reservation_given_back_unused_is_not(mongo_store):
    cache = DirectoryCache(mongo_store.db, ttl_seconds=3600)
    freed = []
    cache.on_freed = lambda s: freed.append(s.specialist_id)
    transact = _transactor(mongo_store, cache=cache)
    await cache.index()  # read: the changes this replica commits go to it
    assert await transact(lambda uow: uow.directory.reserve("neuro-ca", "b1"))
    assert await transact(lambda uow: uow.directory.reserve("neuro-ca", "b2"))
    await transact(lambda uow: uow.directory.release([("neuro-ca", "b1")], freed=False))
    assert freed == []
    await transact(lambda uow: uow.directory.release([("neuro-ca", "b2")]))
    assert freed == ["neuro-ca"]
    neuro = await transact(lambda uow: uow.directory.specialist("neuro-ca"))
    more = dataclasses.replace(neuro, capacity=neuro.capacity + 1, free_slots=neuro.free_slots + 1,
                               version=neuro.version + 1)
    assert await transact(lambda uow: uow.directory.save_specialist(more, neuro))
    assert freed == ["neuro-ca", "neuro-ca"]  # an admin change that adds a slot is one too


async def test_deadlines_are_armed_on_commit_and_the_open_ones_reloaded_by_index(mongo_store):
    deadlines = Deadlines(Clock())
    transact = _transactor(mongo_store, deadlines=deadlines)
    await transact(lambda uow: uow.directory.add_offer(_offer("o1", "onc-ca"), FACTS))
    await transact(lambda uow: uow.directory.add_offer(_offer("o2", "onc-ca"), FACTS))
    assert "o1" in deadlines and "o2" in deadlines
    await transact(lambda uow: uow.directory.close_offer("o1", "declined"))
    assert "o1" not in deadlines  # answered: nothing to fire
    directory = repository.MongoMatchingRepository(mongo_store.db, DirectoryCache(mongo_store.db, 3600), deadlines)
    assert await directory.open_deadlines() == [("o2", T0)]
    # Read by the partial index of offers awaiting an answer, not by a scan of every offer made.
    plan = await mongo_store.db[repository.ASSIGNMENTS].find(repository.AWAITING_ANSWER).hint("awaiting_answer") \
        .explain()
    assert "awaiting_answer" in json.dumps(plan["queryPlanner"]["winningPlan"], default=str)

    # Sent to review; no answer heard: it falls due again RESEND_AFTER later, MAX_SENDS times in all.
    for sends in range(1, MAX_SENDS + 1):
        now = T0 + sends * RESEND_AFTER
        [sent] = await transact(lambda uow, now=now: uow.directory.offers_overdue(["o2"], now))
        assert sent.state == "expiring"
        assert await directory.open_deadlines() == ([("o2", T0 + RESEND_AFTER)] if sends < MAX_SENDS else [])
    assert await transact(lambda uow: uow.directory.offers_overdue(["o2"], T0 + 10 * RESEND_AFTER)) == []

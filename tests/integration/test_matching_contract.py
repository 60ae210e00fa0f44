"""matching's repository contract against the in-memory fake and the real store,
and the atomic reservation under concurrency on the real one."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest

from secondlook.store import Store
from secondlook.unitofwork import transactor
from services.matching import repository
from services.matching.domain.matcher import Specialist
from services.matching.domain.offers import Offer
from services.matching.repository import MatchingUnitOfWork
from tests.fakes.matching import matching_transact
from tests.integration.store_requests import QueryPlans

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPECIALISTS = [
    {"specialist_id": "onc-ca", "specialties": ["207RX0202X"], "licensed_in": ["US-CA"], "languages": ["en"],
     "capacity": 1, "accepting": True, "turnaround_days": 3.0},
    {"specialist_id": "neuro-ca", "specialties": ["2084N0400X"], "licensed_in": ["US-CA", "US-NY"],
     "languages": ["en"], "capacity": 2, "accepting": True, "turnaround_days": 4.0},
    {"specialist_id": "onc-off", "specialties": ["207RX0202X"], "licensed_in": ["US-CA"], "languages": ["en"],
     "capacity": 5, "accepting": False, "turnaround_days": 2.0},
]


def _entity(e) -> Specialist:
    return Specialist(e["specialist_id"], tuple(e["specialties"]), frozenset(e["licensed_in"]),
                      frozenset(e["languages"]), e["capacity"], e["capacity"], e["accepting"], e["turnaround_days"])


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
    return transactor(mongo_store, MatchingUnitOfWork)


def _offer(assignment_id: str, specialist_id: str) -> Offer:
    return Offer(assignment_id, "c1", "t", specialist_id, "207RX0202X", 0.9, "why", T0, T0)


async def test_candidates_are_prefiltered_by_specialty_and_licence(transact):
    found = await transact(lambda uow: uow.directory.candidates(("207RX0202X",), "US-CA"))
    assert sorted(s.specialist_id for s in found) == ["onc-ca", "onc-off"]
    found = await transact(lambda uow: uow.directory.candidates(("2084N0400X", "207RX0202X"), "US-NY"))
    assert [s.specialist_id for s in found] == ["neuro-ca"]


async def test_reserve_takes_free_slots_of_accepting_specialists_only(transact):
    assert await transact(lambda uow: uow.directory.reserve("onc-ca", "a1")) is True
    assert await transact(lambda uow: uow.directory.reserve("onc-ca", "a2")) is False  # capacity 1
    assert await transact(lambda uow: uow.directory.reserve("onc-off", "a3")) is False  # not accepting
    assert await transact(lambda uow: uow.directory.reserve("nobody", "a4")) is False


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


async def test_concurrent_reservations_never_overbook(mongo_store):
    """Ten transactions race for neuro-ca's two slots: exactly two win."""
    transact = transactor(mongo_store, MatchingUnitOfWork)

    async def attempt(i: int) -> bool:
        async def body(uow):
            if not await uow.directory.reserve("neuro-ca", f"race-{i}"):
                return False
            await uow.directory.add_offer(_offer(f"race-{i}", "neuro-ca"))
            return True

        return await transact(body)

    results = await asyncio.gather(*(attempt(i) for i in range(10)))
    assert sum(results) == 2
    doc = await mongo_store.db[repository.SPECIALISTS].find_one({"_id": "neuro-ca"})
    assert doc["free_slots"] == 0
    assert await mongo_store.db[repository.ASSIGNMENTS].count_documents({"specialist_id": "neuro-ca"}) == 2

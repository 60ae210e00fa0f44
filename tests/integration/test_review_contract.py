"""review's repository contract, run against the in-memory fake and the real
store alike: the unit tests' fake behaves as MongoDB does."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from secondlook.phi import PhiCipher
from secondlook.store import Store
from secondlook.unitofwork import transactor
from secondlook.v1 import case_pb2, review_pb2
from services.review import repository
from services.review.domain.assignment import Assignment, moved
from services.review.domain.opinion import OpinionRecord
from services.review.repository import InboxReader, MongoReviewRepository, ReviewUnitOfWork
from tests.fakes.review import InMemoryInbox, InMemoryReviewRepository, review_transact
from tests.fakes.transact import Committed
from tests.integration.store_requests import QueryPlans

pytestmark = pytest.mark.integration

A = review_pb2
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["fake", "mongo"])
async def ports(request, infra_settings):
    if request.param == "fake":
        transact = review_transact()
        yield transact, InMemoryInbox(transact), Committed(transact, InMemoryReviewRepository)
        return
    plans = QueryPlans()
    store = Store(infra_settings, "review", listeners=(plans,))
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)
    # Offers are recorded outside any transaction (a guarded write), as the consumer does.
    cipher = PhiCipher(infra_settings, store.client, "review-phi")
    await cipher.ensure_key()
    yield (transactor(store, lambda uow: ReviewUnitOfWork(uow, cipher)), InboxReader(store.db, cipher),
           MongoReviewRepository(store.db, cipher))
    scans = plans.scans()
    assert not scans, "\n".join(scans)
    await store.client.drop_database(store.db.name)
    await store.close()


def _assignment(i: int, specialist="s1", state=A.ASSIGNMENT_STATE_OFFERED) -> Assignment:
    return Assignment(assignment_id=f"a{i}", case_id=f"c{i}", tenant_id="t", specialist_id=specialist,
                      specialty="x", state=state, diagnosis_code="G35", urgency=1,
                      offered_at=T0 + timedelta(minutes=i), respond_by=T0 + timedelta(days=1),
                      changed_at=T0 + timedelta(minutes=i))


async def test_an_offer_is_added_once_and_read_back_only_by_its_specialist(ports):
    transact, inbox, alone = ports
    first = _assignment(1)
    assert await alone.add_offer(first) is True
    assert await alone.add_offer(dataclasses.replace(first, specialty="changed")) is False
    assert await transact(lambda uow: uow.assignments.get_for_specialist("a1", "s1")) == first
    assert await transact(lambda uow: uow.assignments.get_for_specialist("a1", "s2")) is None
    assert await transact(lambda uow: uow.assignments.get_for_specialist("nope", "s1")) is None
    # Several at once: each is added once, a repeat among them changes nothing.
    added = await alone.add_offers([_assignment(2), first, _assignment(3)])
    assert added == [True, False, True]
    assert await transact(lambda uow: uow.assignments.get_for_specialist("a1", "s1")) == first


async def test_a_move_is_saved_only_over_the_version_it_was_read_at(ports):
    transact, _, alone = ports
    offered = _assignment(1)
    await alone.add_offer(offered)
    accepted = moved(offered, "accept", T0)
    assert accepted.version == 2 and accepted.stamps == {"accepted_at": T0}
    someone_elses = dataclasses.replace(offered, specialist_id="s2")
    assert await transact(lambda uow: uow.assignments.save_move(someone_elses, moved(someone_elses, "accept", T0))) \
        is False
    assert await transact(lambda uow: uow.assignments.save_move(offered, accepted)) is True
    assert await transact(lambda uow: uow.assignments.save_move(offered, accepted)) is False  # read before the move
    missing = dataclasses.replace(offered, assignment_id="nope")
    assert await transact(lambda uow: uow.assignments.save_move(missing, moved(missing, "accept", T0))) is False
    assert await transact(lambda uow: uow.assignments.get_for_specialist("a1", "s1")) == accepted
    started = moved(accepted, "start", T0 + timedelta(minutes=1))
    assert await transact(lambda uow: uow.assignments.save_move(accepted, started)) is True
    assert await transact(lambda uow: uow.assignments.get_for_specialist("a1", "s1")) == started


async def test_changes_since_a_time_are_the_specialists_own_oldest_change_first(ports):
    transact, inbox, alone = ports
    offers = [_assignment(1, "s1"), _assignment(2, "s1"), _assignment(3, "s2")]
    await alone.add_offers(offers)
    later = T0 + timedelta(minutes=30)
    await transact(lambda uow: uow.assignments.save_move(offers[0], moved(offers[0], "accept", later)))
    since = await inbox.changed_since("s1", T0 + timedelta(minutes=2))
    assert [(a.assignment_id, a.version) for a in since] == [("a2", 1), ("a1", 2)]
    assert [a.assignment_id for a in await inbox.changed_since("s1", later + timedelta(seconds=1))] == []


async def test_opinions_are_stored_once(ports):
    transact, _, alone = ports
    opinion = OpinionRecord("o1", "a1", "c1", "s1", 1, 2, "C50.912", 1, (("CPT", "19301", ""),), "r", "n",
                            ("MRI",), "summary", 80, T0)
    await transact(lambda uow: uow.assignments.add_opinion(opinion))
    with pytest.raises(Exception):  # noqa: B017 - the fake asserts, MongoDB raises DuplicateKeyError
        await transact(lambda uow: uow.assignments.add_opinion(opinion))
    again = dataclasses.replace(opinion, opinion_id="o2")  # another document, the same version: refused too
    with pytest.raises(Exception):  # noqa: B017
        await transact(lambda uow: uow.assignments.add_opinion(again))
    amended = dataclasses.replace(opinion, opinion_id="o3", version=2, amendment_reason="typo")
    await transact(lambda uow: uow.assignments.add_opinion(amended))
    assert await transact(lambda uow: uow.assignments.opinions_of("a1")) == [opinion, amended]


async def test_the_inbox_lists_a_specialists_assignments_by_state_oldest_first(ports):
    transact, inbox, alone = ports
    for a in (_assignment(3), _assignment(1), _assignment(2, state=A.ASSIGNMENT_STATE_ACCEPTED),
              _assignment(4, specialist="s2")):
        await alone.add_offer(a)
    assert [a.assignment_id for a in await inbox.list_for_specialist("s1", [])] == ["a1", "a2", "a3"]
    offered = await inbox.list_for_specialist("s1", [A.ASSIGNMENT_STATE_OFFERED])
    assert [a.assignment_id for a in offered] == ["a1", "a3"]


async def test_a_move_saves_all_it_changed_so_the_version_read_back_is_the_one_moved(ports):
    """What a move publishes to the reviewers' feed is what the store then holds at that
    version: the next move may start from it (usecases._act)."""
    transact, _, alone = ports
    offered = dataclasses.replace(_assignment(1), kind=case_pb2.CaseKind.CASE_KIND_PRIOR_AUTH, received_at=T0)
    await alone.add_offer(offered)
    accepted = moved(offered, "accept", T0)
    started = moved(accepted, "start", T0 + timedelta(minutes=1))
    decided = dataclasses.replace(moved(started, "submit_opinion", T0 + timedelta(minutes=2)),
                                  decisions_made=1, decision_id="d-1")
    for before, after in ((offered, accepted), (accepted, started), (started, decided)):
        assert await transact(lambda uow, b=before, a=after: uow.assignments.save_move(b, a)) is True
        assert await transact(lambda uow: uow.assignments.get_for_specialist("a1", "s1")) == after

"""notify's repository contract against the in-memory fakes and the real store:
one delivery per id, leases that expire, and outcomes fenced by attempt."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.store import Store
from secondlook.unitofwork import transactor
from secondlook.v1 import events_pb2
from services.notify import repository
from services.notify.domain.deliveries import DEAD, PENDING, SENDING, Attempt, tenant_delivery
from services.notify.domain.routing import offer_notices_of, route_of
from services.notify.repository import MongoDeliveries, MongoDeliveryQueue, NotifyUnitOfWork
from tests.fakes.notify import InMemoryDeliveries, InMemoryDeliveryQueue, notify_transact
from tests.fakes.transact import Committed
from tests.integration.store_requests import QueryPlans

pytestmark = pytest.mark.integration


@pytest.fixture(params=["fake", "mongo"])
async def ports(request, infra_settings):
    if request.param == "fake":
        transact = notify_transact()
        yield (transact, InMemoryDeliveryQueue(transact), lambda: dict(transact.state.deliveries),
               Committed(transact, InMemoryDeliveries))
        return
    plans = QueryPlans()
    store = Store(infra_settings, "notify", listeners=(plans,))
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)

    async def snapshot():
        return {d["_id"]: d for d in await store.db[repository.DELIVERIES].find({}).to_list()}

    # Deliveries are recorded outside any transaction (a guarded write), as the consumer does.
    yield transactor(store, lambda uow: NotifyUnitOfWork(uow, cipher=None)), MongoDeliveryQueue(store.db), snapshot, MongoDeliveries(store.db)
    scans = plans.scans()
    assert not scans, "\n".join(scans)
    await store.client.drop_database(store.db.name)
    await store.close()


def _failed(error: str) -> Attempt:
    return Attempt(number=1, at=FakeClock().now(), outcome="failed", error=error)


def _delivered() -> Attempt:
    return Attempt(number=1, at=FakeClock().now(), outcome="delivered", status_code=204)


def _delivery(clock, case_id="c1"):
    event = new_event(events_pb2.OpinionSubmitted(assignment_id="a"), case_id=case_id, tenant_id="t",
                      producer="review")
    return tenant_delivery(event, route_of(event), clock.now())


async def test_deliveries_added_together_are_each_added_once(ports):
    _, _, _, alone = ports
    clock = FakeClock()
    seen, others = _delivery(clock), [_delivery(clock, "c-2"), _delivery(clock, "c-3")]
    assert await alone.add(seen) is True
    assert await alone.add_many([others[0], seen, others[1]]) == [True, False, True]


async def test_a_delivery_is_added_once_and_claimed_by_one_sender_until_its_lease_expires(ports):
    transact, queue, _, alone = ports
    clock = FakeClock()
    delivery = _delivery(clock)
    assert await alone.add(delivery) is True
    assert await alone.add(delivery) is False
    first = await queue.claim_due(clock.now(), lease_seconds=10)
    assert first.delivery_id == delivery.delivery_id and first.attempts == 1 and first.status == SENDING
    assert await queue.claim_due(clock.now(), lease_seconds=10) is None  # leased
    clock.advance(11)
    second = await queue.claim_due(clock.now(), lease_seconds=10)
    assert second.attempts == 2
    assert await queue.claim_due(clock.now(), lease_seconds=10) is None


async def test_the_next_due_time_is_the_earliest_retry_or_lease_end(ports):
    transact, queue, _, alone = ports
    clock = FakeClock()
    assert await queue.next_due() is None  # nothing waits: an idle dispatcher sleeps until woken
    delivery = _delivery(clock)
    await alone.add(delivery)
    assert await queue.next_due() == delivery.next_attempt_at
    claimed = await queue.claim_due(clock.now(), lease_seconds=30)
    assert await queue.next_due() == clock.now() + timedelta(seconds=30)  # the lease's end
    retry_at = clock.now() + timedelta(seconds=7)
    await queue.mark_failed(claimed, retry_at, _failed("HTTP 503"))
    assert await queue.next_due() == retry_at
    claimed = await queue.claim_due(retry_at, lease_seconds=30)
    assert await transact(lambda uow: uow.deliveries.mark_delivered(claimed, retry_at, _delivered())) is True
    assert await queue.next_due() is None
    # Every attempt is in the delivery's log, readable by its tenant only.
    [logged] = await queue.of_case("c1", frozenset({"t"}))
    assert [(a.outcome, a.status_code, a.error) for a in logged.log] == [("failed", 0, "HTTP 503"),
                                                                         ("delivered", 204, "")]
    assert logged.delivered_at == retry_at and logged.last_error == ""  # the log keeps the failure; nothing is wrong now
    assert await queue.of_case("c1", frozenset({"another-tenant"})) == []
    assert await queue.get(logged.delivery_id, frozenset({"another-tenant"})) is None
    assert (await queue.get(logged.delivery_id, frozenset({"t"}))).status == "delivered"


async def test_outcomes_are_fenced_by_the_attempt_that_holds_the_lease(ports):
    transact, queue, _, alone = ports
    clock = FakeClock()
    await alone.add(_delivery(clock))
    stale = await queue.claim_due(clock.now(), lease_seconds=1)
    clock.advance(2)
    current = await queue.claim_due(clock.now(), lease_seconds=10)
    await queue.mark_failed(stale, None, _failed("late failure of a superseded sender"))  # ignored
    assert await transact(lambda uow: uow.deliveries.mark_delivered(stale, clock.now(), _delivered())) is False
    assert await transact(lambda uow: uow.deliveries.mark_delivered(current, clock.now(), _delivered())) is True
    assert await transact(lambda uow: uow.deliveries.mark_delivered(current, clock.now(), _delivered())) is False


async def test_a_dead_delivery_is_rearmed_for_another_round(ports):
    transact, queue, snapshot, alone = ports
    clock = FakeClock()
    await alone.add(_delivery(clock, "c-dead"))
    claimed = await queue.claim_due(clock.now(), lease_seconds=10)
    await queue.mark_failed(claimed, None, _failed("HTTP 503"))
    status = lambda d: d["status"] if isinstance(d, dict) else d.status  # noqa: E731
    assert [status(d) for d in (await _values(snapshot))] == [DEAD]
    assert await queue.rearm_dead("c-dead", clock.now(), 3) == 1
    assert [status(d) for d in (await _values(snapshot))] == [PENDING]
    assert (await queue.claim_due(clock.now(), lease_seconds=10)).attempts == 2


async def test_one_dead_delivery_is_retried_on_request_once(ports):
    transact, queue, snapshot, alone = ports
    clock = FakeClock()
    await alone.add(_delivery(clock, "c-retry"))
    claimed = await queue.claim_due(clock.now(), lease_seconds=10)
    await queue.mark_failed(claimed, None, _failed("HTTP 503"))
    [dead] = await queue.of_case("c-retry", frozenset({"t"}))
    assert await queue.retry_now(dead, clock.now(), 3) is True
    assert await queue.retry_now(dead, clock.now(), 3) is False  # no longer dead as read
    again = await queue.claim_due(clock.now(), lease_seconds=10)
    assert (again.attempts, again.attempt_budget) == (2, 4)


async def _values(snapshot):
    got = snapshot()
    if hasattr(got, "__await__"):
        got = await got
    return list(got.values())


async def test_outcomes_recorded_together_each_learn_whether_their_guard_held(ports):
    """A burst of outcomes (the real queue sends them in one bulk write): each delivery
    is recorded, and the one whose lease was taken over is told so and left alone."""
    _, queue, snapshot, alone = ports
    clock = FakeClock()
    deliveries = [_delivery(clock, f"c-{i}") for i in range(12)]
    assert await alone.add_many(deliveries) == [True] * 12
    claimed = [await queue.claim_due(clock.now(), lease_seconds=10) for _ in deliveries]
    clock.advance(11)
    retaken = await queue.claim_due(clock.now(), lease_seconds=10)  # one lease ran out: another sender's now
    stale = next(d for d in claimed if d.delivery_id == retaken.delivery_id)
    claimed.remove(stale)
    claimed.insert(5, stale)
    outcomes = await asyncio.gather(
        *(queue.mark_delivered(d, clock.now(), _delivered()) for d in claimed[:6]),
        *(queue.mark_skipped(d, Attempt(1, clock.now(), "failed", error="nobody")) for d in claimed[6:9]),
        *(queue.mark_failed(d, clock.now() + timedelta(seconds=5), Attempt(1, clock.now(), "failed", 503, "503"))
          for d in claimed[9:]))
    assert outcomes == [True] * 5 + [False] + [True] * 3 + ["pending"] * 3
    status = {(d["_id"] if isinstance(d, dict) else d.delivery_id): (d["status"] if isinstance(d, dict) else d.status)
              for d in await _values(snapshot)}
    assert status[stale.delivery_id] == SENDING  # the newer attempt's, untouched
    assert sorted(status.values()) == sorted(["delivered"] * 5 + ["sending"] + ["skipped"] * 3 + [PENDING] * 3)


async def test_a_postponed_notice_waits_and_one_whose_case_was_withdrawn_meanwhile_is_cancelled(ports):
    _, queue, snapshot, alone = ports
    clock = FakeClock()
    first, second = _delivery(clock, "c-quiet"), _delivery(clock, "c-gone")
    await alone.add_many([first, second])
    claimed = {d.case_id: d for d in [await queue.claim_due(clock.now(), lease_seconds=10) for _ in range(2)]}
    assert await queue.cancel_undelivered("c-gone", clock.now()) == 1  # being sent: marked
    until = clock.now() + timedelta(hours=8)
    quiet = Attempt(1, clock.now(), "postponed", error="quiet hours")
    assert await queue.postpone(claimed["c-quiet"], until, quiet, budget=9) is True
    assert await queue.postpone(claimed["c-gone"], until, quiet, budget=9) is False
    status = {(d["case_id"] if isinstance(d, dict) else d.case_id): (d["status"] if isinstance(d, dict) else d.status)
              for d in await _values(snapshot)}
    assert status == {"c-quiet": PENDING, "c-gone": "cancelled"}
    assert await queue.next_due() == until


async def test_an_ended_offer_cancels_its_reviewers_notices_only(ports):
    _, queue, snapshot, alone = ports
    clock = FakeClock()
    base = _delivery(clock, "c-offer")
    mine = dataclasses.replace(base, delivery_id="e1:reviewer:email", recipient="reviewer", kind="offered",
                               person_id="s1", channel="email", body=b"{}")
    theirs = dataclasses.replace(mine, delivery_id="e2:reviewer:email", person_id="s2")
    await alone.add_many([base, mine, theirs])
    assert await queue.cancel_undelivered("c-offer", clock.now(), offer_notices_of("s1")) == 1
    status = {(d["_id"] if isinstance(d, dict) else d.delivery_id): (d["status"] if isinstance(d, dict) else d.status)
              for d in await _values(snapshot)}
    assert status == {base.delivery_id: PENDING, mine.delivery_id: "cancelled", theirs.delivery_id: PENDING}

"""A notice to a person is sent before it is written, then written once with the
outcome of that first attempt (delivered, nobody to send it to, its case
withdrawn); an attempt that fails or is still under way is written claimed for
it, and its outcome recorded like any other's. A repeated event sends nothing
again."""

from __future__ import annotations

from datetime import timedelta

from secondlook.clock import FakeClock
from secondlook.v1 import case_pb2, intake_pb2
from services.notify import usecases
from services.notify.dispatcher import Dispatcher, PeopleChannels
from services.notify.domain.deliveries import (
    CANCELLED,
    DELIVERED,
    SENDING,
    SKIPPED,
    Attempt,
    Delivery,
    person_deliveries,
    settled_at_once,
)
from services.notify.domain.routing import EMAIL, route_of
from services.notify.templating import Templates
from tests.fakes.notify import InMemoryDeliveryQueue, InMemoryEndpoints, lifecycle_event, notify_transact
from tests.unit.test_notify_routing import CountingDeliveries, _endpoint

PEOPLE = frozenset({"email", "sms"})


class FirstAttempts:
    """The dispatcher's part, by hand: each first attempt ends as `ends` says."""

    def __init__(self, ends: str = DELIVERED):
        self.ends = ends
        self.sent: list[Delivery] = []
        self.told: dict[str, list[Delivery]] = {}

    async def send_first(self, deliveries: list[Delivery]) -> None:
        self.sent.extend(deliveries)

    def ended(self, deliveries: list[Delivery]) -> dict[str, Delivery]:
        clock, settled = FakeClock(), {}
        for d in deliveries:
            attempt = Attempt(1, clock.now(), "delivered" if self.ends == DELIVERED else "failed", 250)
            if (after := settled_at_once(d, self.ends, attempt, clock.now())) is not None:
                settled[d.delivery_id] = after
        return settled

    def written(self, inserted, present) -> None:
        self.told = {"inserted": inserted, "present": present}


async def _notices(events, people: FirstAttempts, state=None):
    transact = notify_transact()
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_all"), 10)
    deliveries, hooks = CountingDeliveries(state or transact.state), []
    outcome = await usecases.record_notices(deliveries, endpoints, events, FakeClock(), hooks.extend, 10,
                                            channels=PEOPLE, people=people)
    return outcome, hooks, deliveries


async def test_notices_to_people_are_sent_first_then_written_once_with_their_outcome():
    people = FirstAttempts()
    outcome, hooks, deliveries = await _notices([lifecycle_event("opinion.submitted")], people)
    assert outcome == [True]
    assert sorted((d.recipient, d.channel) for d in people.sent) == [
        ("patient", "email"), ("patient", "sms"), ("physician", "email")]
    stored = deliveries._state.deliveries
    for d in people.sent:
        after = stored[d.delivery_id]
        assert (after.status, after.attempts, after.lease_until) == (DELIVERED, 1, None)
        assert [a.outcome for a in after.log] == ["delivered"] and after.delivered_at is not None
    assert sorted(d.delivery_id for d in people.told["inserted"]) == sorted(d.delivery_id for d in people.sent)
    assert people.told["present"] == []
    [hook] = hooks  # the webhook: written claimed before it is sent, as before
    assert stored[hook.delivery_id].status == SENDING
    # One read (what the event has already), the webhook's insert, the people's insert: no update.
    assert deliveries.requests == 3


async def test_a_repeated_event_sends_nothing_again():
    people, event = FirstAttempts(), lifecycle_event("opinion.submitted")
    _, _, deliveries = await _notices([event], people)
    first = list(people.sent)
    outcome, hooks, _ = await _notices([event], people, state=deliveries._state)
    assert outcome == [False] and hooks == [] and people.sent == first
    assert sorted(d.delivery_id for d in people.told["present"]) == sorted(d.delivery_id for d in first)


async def test_an_attempt_that_failed_or_goes_on_is_written_claimed_for_it():
    people = FirstAttempts(ends="failed")
    _, _, deliveries = await _notices([lifecycle_event("opinion.submitted")], people)
    for d in people.sent:
        stored = deliveries._state.deliveries[d.delivery_id]
        assert (stored.status, stored.attempts, stored.log) == (SENDING, 1, ())
        assert stored.lease_until is not None
    assert sorted((d.delivery_id, d.status) for d in people.told["inserted"]) == \
        sorted((d.delivery_id, SENDING) for d in people.sent)


def _patient_email(case_id="c1", lease_seconds=60) -> Delivery:
    event = lifecycle_event("opinion.submitted", case_id=case_id)
    now = FakeClock().now()
    [patient, _] = person_deliveries(event, route_of(event), EMAIL, now,
                                     claimed_until=now + timedelta(seconds=lease_seconds))
    return patient


def test_what_a_first_attempt_settles_and_what_it_leaves_to_the_claimed_path():
    d, clock = _patient_email(), FakeClock()
    skipped = settled_at_once(d, SKIPPED, Attempt(1, clock.now(), "failed", error="no e-mail address"), clock.now())
    assert skipped is not None and (skipped.status, skipped.last_error, skipped.delivered_at) == \
        (SKIPPED, "no e-mail address", None)
    cancelled = settled_at_once(d, CANCELLED, None, clock.now())
    assert cancelled is not None and (cancelled.status, cancelled.attempts, cancelled.log) == (CANCELLED, 0, ())
    assert cancelled.cancelled_at == clock.now()
    for goes_on in ("failed", "postponed"):
        assert settled_at_once(d, goes_on, Attempt(1, clock.now(), "failed"), clock.now()) is None


class _Mailer:
    def __init__(self):
        self.sent: list = []

    async def send(self, message):
        self.sent.append(message)
        return 250, ""


class _Book:
    async def of_case(self, case_id, purpose, channels):
        return intake_pb2.Contacts(case_id=case_id, tenant_id="t1", urgency=case_pb2.URGENCY_STANDARD,
                                   patient=intake_pb2.Contact(email="ada@example.org"))


def _dispatcher():
    transact, mailer = notify_transact(), _Mailer()
    people = PeopleChannels(contacts=_Book(), templates=Templates(), mailer=mailer, sms=None,  # type: ignore[arg-type]
                            sender="notices@example.org", portal_url="https://portal.example.org")
    return Dispatcher(transact, InMemoryDeliveryQueue(transact), InMemoryEndpoints(), FakeClock(), timeout=5,
                      max_attempts=3, allow_insecure_targets=False, people=people), mailer


async def _settle(dispatcher, deliveries):
    await dispatcher.send_first(deliveries)
    return dispatcher.ended(deliveries)


async def test_the_dispatcher_sends_once_however_often_the_notice_comes_before_it_is_written():
    dispatcher, mailer = _dispatcher()
    notice = _patient_email()
    settled = await _settle(dispatcher, [notice])
    assert settled[notice.delivery_id].status == DELIVERED and len(mailer.sent) == 1
    assert (await _settle(dispatcher, [notice])).keys() == settled.keys()  # the write failed, the event came again
    assert len(mailer.sent) == 1
    dispatcher.written(inserted=list(settled.values()), present=[])
    await _settle(dispatcher, [notice])  # written: a later repeat is the store's to spot (usecases.record_notices)
    assert len(mailer.sent) == 2


async def test_the_dispatcher_cancels_a_notice_of_a_withdrawn_case_without_sending_it():
    dispatcher, mailer = _dispatcher()
    dispatcher.withdrawn("gone")
    notice = _patient_email("gone")
    settled = await _settle(dispatcher, [notice])
    assert settled[notice.delivery_id].status == CANCELLED and mailer.sent == []


async def test_a_notice_that_waited_for_a_sender_past_its_lease_is_left_to_the_store():
    dispatcher, mailer = _dispatcher()
    notice = _patient_email(lease_seconds=dispatcher.lease_seconds - 1)  # too little left to send and record it
    assert await _settle(dispatcher, [notice]) == {} and mailer.sent == []  # written claimed: claimed again later

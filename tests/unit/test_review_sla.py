"""The review's SLA clock: budget by urgency, paused while waiting on the submitter,
reminders at fractions of the budget, a breach once, nothing twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.v1 import case_pb2, events_pb2
from secondlook.v1 import review_pb2 as A
from services.review import usecases
from services.review.domain import sla
from services.review.domain.assignment import sla_next_at
from services.review.domain.sla import SlaRules
from tests.fakes.review import FINGERPRINT, InMemoryInbox, review_transact
from tests.unit.test_review_usecases import FEED, _offered, _opinion, _Questions, _with_offer


@pytest.fixture(autouse=True)
def _feed_forgets():
    """The shared feed keeps the latest versions it saw, and these tests reuse assignment
    ids: each test starts with it empty."""
    FEED.__init__()

RULES = SlaRules(standard_seconds=1000, expedited_seconds=100, reminder_fractions=(0.5, 0.8))


async def _due(transact, clock, ids=("a1",)):
    """What the keeper's firing committed: (assignment, alarm) each."""
    fired = []
    await usecases.sla_due(transact, FEED, clock, list(ids), lambda a, alarm: fired.append((a, alarm)))
    return fired


def test_the_budget_follows_urgency_and_only_running_time_counts():
    now = FakeClock().now()
    clock = sla.started(RULES, case_pb2.URGENCY_EXPEDITED, now)
    assert clock.budget_seconds == 100 and sla.due_at(clock) == now + timedelta(seconds=100)
    paused = sla.paused(clock, now + timedelta(seconds=30))
    assert sla.seconds_left(paused, now + timedelta(days=3)) == 70 and sla.due_at(paused) is None
    resumed = sla.resumed(paused, now + timedelta(seconds=500))
    assert sla.due_at(resumed) == now + timedelta(seconds=570)
    stopped = sla.stopped(resumed, now + timedelta(seconds=510))
    assert stopped.state == sla.STOPPED and sla.seconds_left(stopped, now + timedelta(days=9)) == 60
    assert sla.next_alarm_at(stopped) is None and sla.alarm(stopped, now + timedelta(days=9)) is None


def test_reminders_then_the_breach_each_fall_due_once():
    now = FakeClock().now()
    clock = sla.started(RULES, case_pb2.URGENCY_STANDARD, now)
    assert sla.next_alarm_at(clock) == now + timedelta(seconds=500)
    assert sla.alarm(clock, now + timedelta(seconds=499)) is None
    first = sla.alarm(clock, now + timedelta(seconds=500))
    assert first.reminder == 1 and not first.breach
    assert sla.alarm(first.clock, now + timedelta(seconds=501)) is None  # recorded: not again
    assert sla.next_alarm_at(first.clock) == now + timedelta(seconds=800)
    second = sla.alarm(first.clock, now + timedelta(seconds=800))
    assert second.reminder == 2 and sla.next_alarm_at(second.clock) == now + timedelta(seconds=1000)
    breach = sla.alarm(second.clock, now + timedelta(seconds=1000))
    assert breach.breach and breach.clock.breached_at is not None
    assert sla.next_alarm_at(breach.clock) is None and sla.alarm(breach.clock, now + timedelta(days=30)) is None


def test_a_clock_that_slept_through_its_reminders_breaches_at_once_and_a_paused_one_never_fires():
    now = FakeClock().now()
    clock = sla.started(RULES, case_pb2.URGENCY_STANDARD, now)
    late = sla.alarm(clock, now + timedelta(seconds=5000))
    assert late.breach and late.clock.reminders_sent == 2
    both = sla.alarm(clock, now + timedelta(seconds=900))  # past both reminders: one reminder, the second
    assert both.reminder == 2
    paused = sla.paused(clock, now + timedelta(seconds=100))
    assert sla.alarm(paused, now + timedelta(days=30)) is None and sla.next_alarm_at(paused) is None


async def test_the_clock_runs_from_acceptance_pauses_for_more_information_and_fires_each_alarm_once():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    accepted = await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1", RULES)
    assert accepted.sla.state == sla.RUNNING
    event = transact.committed[-1]
    assert event.assignment_accepted.sla_due_at.ToDatetime(tzinfo=clock.now().tzinfo) == \
        clock.now() + timedelta(seconds=1000)
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    clock.advance(400)
    intake = _Questions()
    waiting = await usecases.request_more_info(transact, InMemoryInbox(transact), intake, FEED, clock, "spec-1", "a1",
                                               ["The MRI report?"], fingerprint=FINGERPRINT)
    assert waiting.sla.state == sla.PAUSED and transact.committed[-1].info_requested.sla_seconds_left == 600
    assert sla_next_at(waiting) is None
    clock.advance(86400)  # a day waiting on the submitter costs the reviewer nothing
    assert await _due(transact, clock) == []
    [request_id] = intake.kept
    await transact(lambda uow: usecases.resume_reviews(uow, FEED, clock, RULES, new_documents(request_id)))
    resumed = transact.state.assignments["a1"]
    assert sla_next_at(resumed) == clock.now() + timedelta(seconds=100)  # the first reminder, at 500 s used
    clock.advance(100)
    [(_, reminder)] = await _due(transact, clock)
    assert reminder.reminder == 1
    assert await _due(transact, clock) == []  # fired once
    sent = transact.committed[-1].sla_changed
    assert (sent.change, sent.reminder, sent.seconds_left) == (events_pb2.SLA_CHANGE_REMINDER, 1, 500)
    clock.advance(500)
    [(_, breach)] = await _due(transact, clock)
    assert breach.breach and transact.committed[-1].sla_changed.change == events_pb2.SLA_CHANGE_BREACHED
    assert transact.state.assignments["a1"].sla.reminders_sent == 2  # the second reminder was slept through
    done = await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    assert done.sla.state == sla.STOPPED and sla_next_at(done) is None


async def test_a_case_without_records_starts_its_clock_with_the_first_ones():
    transact, clock = review_transact(), FakeClock()
    offer = _offered()
    offer.specialist_offered.records = 0
    await _with_offer(transact, offer)
    accepted = await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1", RULES)
    assert accepted.sla is None and accepted.state == A.ASSIGNMENT_STATE_ACCEPTED
    clock.advance(3600)
    await transact(lambda uow: usecases.resume_reviews(uow, FEED, clock, RULES, new_documents()))
    started = transact.state.assignments["a1"]
    assert started.sla.state == sla.RUNNING and started.sla.started_at == clock.now()
    assert transact.committed[-1].sla_changed.change == events_pb2.SLA_CHANGE_STARTED


def new_documents(*answers):
    return new_event(events_pb2.DocumentsAdded(count=1, answers=answers), case_id="c1", tenant_id="t1",
                     producer="intake")



def test_an_alarm_rearmed_from_millisecond_times_still_fires_at_its_threshold():
    now = FakeClock().now()
    clock = sla.resumed(sla.paused(sla.started(RULES, case_pb2.URGENCY_STANDARD, now), now + timedelta(
        seconds=100, microseconds=700)), now + timedelta(seconds=200))
    stored = sla.next_alarm_at(clock).replace(microsecond=sla.next_alarm_at(clock).microsecond // 1000 * 1000)
    assert stored < sla.next_alarm_at(clock)  # the store's millisecond, a little before
    assert sla.alarm(clock, stored) is not None


async def test_records_that_answer_a_request_on_a_case_without_any_start_its_clock():
    transact, clock = review_transact(), FakeClock()
    offer = _offered()
    offer.specialist_offered.records = 0
    await _with_offer(transact, offer)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1", RULES)
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    intake = _Questions()
    await usecases.request_more_info(transact, InMemoryInbox(transact), intake, FEED, clock, "spec-1", "a1",
                                     ["The biopsy report?"], fingerprint=FINGERPRINT)
    assert transact.state.assignments["a1"].sla is None  # nothing to pause: no records, no clock yet
    [request_id] = intake.kept
    await transact(lambda uow: usecases.resume_reviews(uow, FEED, clock, RULES, new_documents(request_id)))
    resumed = transact.state.assignments["a1"]
    assert resumed.state == A.ASSIGNMENT_STATE_IN_REVIEW and resumed.sla.state == sla.RUNNING


async def test_records_added_before_acceptance_let_the_acceptance_start_the_clock():
    transact, clock = review_transact(), FakeClock()
    offer = _offered()
    offer.specialist_offered.records = 0
    await _with_offer(transact, offer)
    await transact(lambda uow: usecases.resume_reviews(uow, FEED, clock, RULES, new_documents()))
    accepted = await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1", RULES)
    assert accepted.sla is not None and accepted.sla.state == sla.RUNNING

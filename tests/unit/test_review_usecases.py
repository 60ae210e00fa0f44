"""review's use cases with in-memory fakes: no broker, no store."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from devstack import clients
from secondlook.auth import Principal
from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.feed import WATCHER_BACKLOG, FellBehind
from secondlook.v1 import case_pb2, events_pb2, review_pb2
from services.review import usecases
from services.review.cases import CaseUnavailable
from services.review.domain.assignment import IllegalAction, info_request_id, questions_text, withholds_first_opinion
from services.review.domain.inbox import InboxPage
from services.review.domain.opinion import validate_opinion
from services.review.domain.sla import SlaRules
from services.review.feed import AssignmentFeed
from tests.conftest import eventually
from tests.fakes.intake import RecordedAccesses
from tests.fakes.review import FINGERPRINT, InMemoryInbox, InMemoryReviewRepository, review_transact
from tests.fakes.transact import Committed

A = review_pb2


def _offered(assignment_id="a1", specialist_id="spec-1", case_id="c1"):
    offer = events_pb2.SpecialistOffered(assignment_id=assignment_id, specialist_id=specialist_id,
                                         specialty="207RX0202X", diagnosis_code="C50.911",
                                         urgency=case_pb2.URGENCY_STANDARD, records=2)
    offer.respond_by.FromDatetime(FakeClock().now() + timedelta(days=1))
    return new_event(offer, case_id=case_id, tenant_id="t1", producer="matching", occurred_at=FakeClock().now())


def _opinion(**changes):
    opinion = clients.opinion(diagnosis_concordance=case_pb2.CONCORDANCE_REFINED, reviewer_diagnosis_code="C50.912",
                              treatment_concordance=case_pb2.CONCORDANCE_SAME,
                              recommendation="Proceed.", narrative="Because.", confidence=80)
    for k, v in changes.items():
        setattr(opinion, k, v)
    return opinion


FEED = AssignmentFeed()  # nobody watching: the tests below that watch make their own


@pytest.fixture(autouse=True)
def _feed_forgets():
    """The feed keeps the latest versions it saw, and these tests reuse assignment ids:
    each test starts with it empty."""
    FEED.__init__()
RULES = SlaRules()


async def _with_offer(transact, event=None, feed=FEED):
    [added] = await usecases.record_offers(Committed(transact, InMemoryReviewRepository), feed, FakeClock(),
                                           [event or _offered()])
    return added


async def test_an_offer_lands_in_the_inbox_once_however_often_it_arrives():
    transact = review_transact()
    event = _offered()
    assert [await _with_offer(transact, event) for _ in range(3)] == [True, False, False]
    inbox, more = await usecases.list_assignments(InMemoryInbox(transact), "spec-1", InboxPage(), 10)
    assert more is None
    assert [a.assignment_id for a in inbox] == ["a1"]
    assert inbox[0].state == A.ASSIGNMENT_STATE_OFFERED and inbox[0].tenant_id == "t1"
    assert transact.committed == []  # an offer causes no event of review's


async def test_the_reviewer_works_an_assignment_and_each_step_emits_its_event():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    clock.advance(60)
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    done = await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    assert done.state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED
    assert set(done.stamps) == {"accepted_at", "started_at", "opinion_submitted_at"}
    assert [e.type for e in transact.committed] == ["assignment.accepted", "review.started", "opinion.submitted"]
    submitted = transact.committed[-1].opinion_submitted
    [opinion] = transact.state.opinions.values()
    assert submitted.opinion_id == opinion.opinion_id
    assert submitted.diagnosis_concordance == case_pb2.CONCORDANCE_REFINED
    # The narrative is PHI: stored, never in the event.
    assert opinion.narrative == "Because." and b"Because." not in transact.committed[-1].SerializeToString()


async def test_another_specialists_assignment_is_not_found_and_nothing_changes():
    transact = review_transact()
    await _with_offer(transact)
    with pytest.raises(usecases.NotFound):
        await usecases.accept_assignment(transact, FEED, FakeClock(), "spec-2", "a1")
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_OFFERED
    assert transact.committed == []


async def test_a_step_out_of_turn_is_refused_and_nothing_is_written():
    transact = review_transact()
    await _with_offer(transact)
    with pytest.raises(IllegalAction, match="needs state IN_REVIEW"):
        await usecases.submit_opinion(transact, FEED, FakeClock(), "spec-1", "a1", _opinion())
    assert transact.state.opinions == {} and transact.committed == []


async def test_an_invalid_opinion_names_every_field_and_is_not_stored():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    with pytest.raises(usecases.InvalidOpinion) as info:
        await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1",
                                      _opinion(recommendation=" ", confidence=101, attestation=False,
                                               treatment_concordance=case_pb2.CONCORDANCE_DIFFERENT))
    assert [f for f, _ in info.value.violations] == [
        "opinion.recommendation", "opinion.confidence", "opinion.attestation"]
    assert transact.state.opinions == {}


async def _next(changes, timeout=1.0):
    return await asyncio.wait_for(anext(changes), timeout)


async def test_a_watcher_gets_the_open_inbox_then_each_change_once_and_only_its_own():
    transact, clock, feed = review_transact(), FakeClock(), AssignmentFeed()
    await _with_offer(transact, _offered("a1"), feed)
    changes = usecases.watch_assignments(InMemoryInbox(transact), feed, "spec-1", None)
    first = await _next(changes)
    assert (first.assignment_id, first.state, first.version) == ("a1", A.ASSIGNMENT_STATE_OFFERED, 1)

    await _with_offer(transact, _offered("a2"), feed)
    await _with_offer(transact, _offered("a2"), feed)  # a repeat: nothing new to see
    await _with_offer(transact, _offered("b1", specialist_id="spec-2", case_id="c2"), feed)  # someone else's
    await usecases.accept_assignment(transact, feed, clock, "spec-1", "a1")
    seen = [await _next(changes), await _next(changes)]
    assert [(a.assignment_id, a.state, a.version) for a in seen] == [
        ("a2", A.ASSIGNMENT_STATE_OFFERED, 1), ("a1", A.ASSIGNMENT_STATE_ACCEPTED, 2)]
    feed.publish(seen[1])  # the same change again (e.g. from the change stream): passed on once
    with pytest.raises(TimeoutError):
        await _next(changes, timeout=0.05)
    await changes.aclose()
    assert feed.watching == 0


async def test_a_resumed_watch_replays_the_changes_since_its_position():
    transact, clock, feed = review_transact(), FakeClock(), AssignmentFeed()
    await _with_offer(transact, _offered("a1"), feed)
    clock.advance(60)
    await usecases.accept_assignment(transact, feed, clock, "spec-1", "a1")
    since = clock.now() - timedelta(seconds=5)
    changes = usecases.watch_assignments(InMemoryInbox(transact), feed, "spec-1", since)
    replayed = await _next(changes)
    assert (replayed.state, replayed.version) == (A.ASSIGNMENT_STATE_ACCEPTED, 2)
    await changes.aclose()


async def test_a_watcher_that_falls_behind_is_ended_to_resume_later():
    transact, feed = review_transact(), AssignmentFeed()
    changes = usecases.watch_assignments(InMemoryInbox(transact), feed, "spec-1", None)
    pending = asyncio.ensure_future(_next(changes))
    for _ in range(100):  # until the watch has subscribed and read the (empty) inbox
        if feed.watching:
            break
        await asyncio.sleep(0)
    assert feed.watching == 1
    for i in range(WATCHER_BACKLOG + 2):
        await _with_offer(transact, _offered(f"a{i}", case_id=f"c{i}"), feed)
    assert (await pending).assignment_id == "a0"
    with pytest.raises(FellBehind):  # at once: its last position replays what it missed
        await _next(changes)


async def test_a_resume_further_back_than_it_can_replay_is_refused_not_cut_short():
    transact, clock, feed = review_transact(), FakeClock(), AssignmentFeed()
    for i in range(usecases.RESUME_LIMIT):
        await _with_offer(transact, _offered(f"a{i}", case_id=f"c{i}"), feed)
    changes = usecases.watch_assignments(InMemoryInbox(transact), feed, "spec-1", clock.now() - timedelta(days=1))
    with pytest.raises(usecases.TooFarBehind):
        await _next(changes)


async def test_a_withdrawn_cases_open_assignments_are_withdrawn_pushed_and_told_to_notify():
    transact, clock, feed = review_transact(), FakeClock(), AssignmentFeed()
    offers = [_offered("a1", "s1"), _offered("a2", "s2")]
    await usecases.record_offers(InMemoryReviewRepository(transact.state), feed, clock, offers)
    first, second = (o.specialist_offered.assignment_id for o in offers)
    done = dataclasses.replace(transact.state.assignments[second], state=A.ASSIGNMENT_STATE_OPINION_SUBMITTED)
    transact.state.assignments[second] = done
    watcher = feed.subscribe("s1")
    withdrawn = new_event(events_pb2.OffersWithdrawn(assignment_ids=[first, second]), case_id="c1", tenant_id="t1",
                          producer="matching")
    await transact(lambda uow: usecases.withdraw_assignments(uow, feed, clock, withdrawn))
    assert transact.state.assignments[first].state == A.ASSIGNMENT_STATE_WITHDRAWN
    assert transact.state.assignments[second] == done  # its opinion is in: left as it is
    pushed = await asyncio.wait_for(watcher.next(), 1)
    assert (pushed.assignment_id, pushed.state) == (first, A.ASSIGNMENT_STATE_WITHDRAWN)
    [told] = transact.committed
    assert told.type == "assignments.withdrawn" and list(told.assignments_withdrawn.assignment_ids) == [first]
    with pytest.raises(IllegalAction, match="WITHDRAWN"):  # nothing more for its reviewer to do
        await usecases.accept_assignment(transact, feed, clock, "s1", first)


async def test_an_interrupted_feed_ends_a_waiting_stream_so_its_client_resumes():
    transact, feed = review_transact(), AssignmentFeed()
    changes = usecases.watch_assignments(InMemoryInbox(transact), feed, "spec-1", None)
    waiting = asyncio.ensure_future(anext(changes))
    await eventually(lambda: asyncio.sleep(0, result=feed.watching == 1), 2, "the stream to subscribe", interval=0.01)
    feed.interrupt_all()  # e.g. the change stream restarted from now: changes may have gone by unseen
    with pytest.raises(FellBehind):
        await asyncio.wait_for(waiting, 2)


# --- declining and expiring offers -------------------------------------------------
def _deadline(assignment_id="a1", case_id="c1", specialist_deactivated=False):
    passed = events_pb2.OfferDeadlinePassed(assignment_id=assignment_id, specialist_id="spec-1",
                                            specialist_deactivated=specialist_deactivated)
    return new_event(passed, case_id=case_id, tenant_id="t1", producer="matching")


async def test_a_declined_offer_tells_matching_the_coded_reason_and_keeps_the_note_here():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    done = await usecases.decline_assignment(transact, FEED, clock, "spec-1", "a1",
                                             case_pb2.DECLINE_REASON_CONFLICT_OF_INTEREST, "  I trained the physician. ")
    assert done.state == A.ASSIGNMENT_STATE_DECLINED and "declined_at" in done.stamps
    [event] = transact.committed
    assert event.type == "assignment.declined"
    assert event.assignment_declined.reason == case_pb2.DECLINE_REASON_CONFLICT_OF_INTEREST
    assert b"trained" not in event.SerializeToString()  # the note stays in review
    stored = transact.state.assignments["a1"]
    assert stored.decline_note == "I trained the physician."
    with pytest.raises(IllegalAction, match="DECLINED"):  # an answer is final
        await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    # The same decline again (a retry after a lost answer) is answered as made; another is refused.
    again = await usecases.decline_assignment(transact, FEED, clock, "spec-1", "a1",
                                              case_pb2.DECLINE_REASON_CONFLICT_OF_INTEREST, "I trained the physician.")
    assert again == done and len(transact.committed) == 1
    with pytest.raises(IllegalAction, match="DECLINED"):
        await usecases.decline_assignment(transact, FEED, clock, "spec-1", "a1", case_pb2.DECLINE_REASON_OTHER, "")


async def test_a_decline_needs_a_reason_and_a_short_note_and_stores_nothing_without():
    transact = review_transact()
    await _with_offer(transact)
    with pytest.raises(usecases.InvalidDecline) as refused:
        await usecases.decline_assignment(transact, FEED, FakeClock(), "spec-1", "a1",
                                          case_pb2.DECLINE_REASON_UNSPECIFIED, "x" * 2001)
    assert [f for f, _ in refused.value.violations] == ["reason", "note"]
    with pytest.raises(usecases.InvalidDecline):
        await usecases.decline_assignment(transact, FEED, FakeClock(), "spec-1", "a1", 99, "")  # not a reason
    assert transact.committed == [] and transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_OFFERED


async def test_an_accepted_assignment_can_no_longer_be_declined():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    with pytest.raises(IllegalAction, match="DeclineAssignment needs state OFFERED; the assignment is ACCEPTED"):
        await usecases.decline_assignment(transact, FEED, clock, "spec-1", "a1", case_pb2.DECLINE_REASON_OTHER, "")


async def test_an_offer_cannot_be_accepted_after_its_deadline():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)  # respond_by: a day after the clock's start
    clock.advance(86400 + 1)
    with pytest.raises(IllegalAction, match="deadline passed"):
        await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    assert transact.committed == []


async def test_a_passed_deadline_expires_an_unanswered_offer_once():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)  # respond_by: a day after the clock's start
    deadline = _deadline()
    await transact(lambda uow: usecases.expire_offer(uow, FEED, clock, deadline))  # early by this clock
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_OFFERED and transact.committed == []
    clock.advance(86400)
    for _ in range(2):  # a repeat changes nothing
        await transact(lambda uow: usecases.expire_offer(uow, FEED, clock, deadline))
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_EXPIRED
    [expired] = transact.committed
    assert expired.type == "assignment.expired" and expired.causation_id == deadline.event_id
    assert expired.assignment_expired.assignment_id == "a1"


async def test_an_offer_taken_back_from_a_deactivated_specialist_expires_before_its_deadline_and_says_so():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)  # respond_by: a day after the clock's start
    taken_back = _deadline(specialist_deactivated=True)
    await transact(lambda uow: usecases.expire_offer(uow, FEED, clock, taken_back))
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_EXPIRED
    [expired] = transact.committed
    assert expired.assignment_expired.specialist_deactivated and expired.causation_id == taken_back.event_id
    with pytest.raises(IllegalAction, match="EXPIRED"):  # nothing left to accept
        await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")


async def test_an_answer_given_before_the_deadline_event_stands():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    clock.advance(86400)
    await transact(lambda uow: usecases.expire_offer(uow, FEED, clock, _deadline()))
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_ACCEPTED
    assert [e.type for e in transact.committed] == ["assignment.accepted"]


async def test_a_deadline_for_an_offer_review_never_recorded_expires_it_so_matching_moves_on():
    transact = review_transact()  # its specialist.offered was dead-lettered, say
    await transact(lambda uow: usecases.expire_offer(uow, FEED, FakeClock(), _deadline("never-recorded")))
    [expired] = transact.committed
    assert expired.type == "assignment.expired" and expired.assignment_expired.assignment_id == "never-recorded"
    assert expired.assignment_expired.specialist_id == "spec-1"


# --- the reviewer's reads ------------------------------------------------------------
async def test_the_inbox_pages_by_offer_time_and_filters_by_state_and_urgency():
    transact, clock = review_transact(), FakeClock()
    for i in range(7):
        event = _offered(assignment_id=f"a{i}", case_id=f"c{i}")
        event.occurred_at.FromDatetime(FakeClock().now() + timedelta(seconds=i // 2))  # ties by twos
        if i == 6:
            event.specialist_offered.urgency = case_pb2.URGENCY_EXPEDITED
        await _with_offer(transact, event)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a3")
    inbox, seen, after = InMemoryInbox(transact), [], None
    while True:
        page, after = await usecases.list_assignments(inbox, "spec-1", InboxPage(after=after), 2)
        seen += [a.assignment_id for a in page]
        if after is None:
            break
    assert seen == [f"a{i}" for i in range(7)]  # each once, in offer order, ties by id
    accepted, _ = await usecases.list_assignments(inbox, "spec-1", InboxPage(states=(A.ASSIGNMENT_STATE_ACCEPTED,)), 9)
    assert [a.assignment_id for a in accepted] == ["a3"]
    urgent, _ = await usecases.list_assignments(inbox, "spec-1", InboxPage(urgency=case_pb2.URGENCY_EXPEDITED), 9)
    assert [a.assignment_id for a in urgent] == ["a6"]
    assert (await usecases.list_assignments(inbox, "spec-2", InboxPage(), 9))[0] == []  # only one's own


class _Cases:
    def __init__(self):
        self.reads: list[tuple[str, str]] = []

    async def case_for_review(self, case_id, specialist_id):
        self.reads.append((case_id, specialist_id))
        return {"case_id": case_id}


class _Questions:
    """intake's side of a request for more information: what it was told to keep."""

    def __init__(self, answer=True):
        self.kept: dict[str, tuple] = {}
        self.answer = answer  # False: the case is closed; an exception: intake is down

    async def record_info_request(self, case_id, request_id, specialist_id, questions):
        if isinstance(self.answer, Exception):
            raise self.answer
        self.kept.setdefault(request_id, (case_id, specialist_id, tuple(questions)))
        return self.answer


async def _in_review(transact, clock):
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")


def _documents_added(*answers, case_id="c1"):
    return new_event(events_pb2.DocumentsAdded(count=1, answers=answers), case_id=case_id, tenant_id="t1",
                     producer="intake")


async def test_more_information_is_asked_through_intake_then_the_assignment_waits_and_resumes_on_records():
    transact, clock, intake = review_transact(), FakeClock(), _Questions()
    await _in_review(transact, clock)
    questions = ["  Please send the pathology report of the core biopsy.  ", "Was HER2 tested by FISH?"]
    waiting = await usecases.request_more_info(transact, InMemoryInbox(transact), intake, FEED, clock, "spec-1", "a1",
                                               questions, fingerprint=FINGERPRINT)
    assert waiting.state == A.ASSIGNMENT_STATE_NEEDS_INFO and "info_requested_at" in waiting.stamps
    [(request_id, kept)] = intake.kept.items()
    assert kept == ("c1", "spec-1", ("Please send the pathology report of the core biopsy.", "Was HER2 tested by FISH?"))
    event = transact.committed[-1]
    assert event.type == "info.requested"
    assert (event.info_requested.request_id, event.info_requested.question_count) == (request_id, 2)
    assert b"pathology" not in event.SerializeToString()  # the questions stay in intake
    with pytest.raises(IllegalAction, match="needs state IN_REVIEW"):  # one request at a time
        await usecases.request_more_info(transact, InMemoryInbox(transact), intake, FEED, clock, "spec-1", "a1",
                                         ["And the MRI?"], fingerprint=FINGERPRINT)
    assert len(intake.kept) == 1
    again = await usecases.request_more_info(transact, InMemoryInbox(transact), intake, FEED, clock, "spec-1", "a1",
                                             questions, fingerprint=FINGERPRINT)  # a retry after a lost reply: the same request, once
    assert again == waiting and len(intake.kept) == 1
    # The id comes from the questions' keyed fingerprint, never from a plain hash of them.
    text = questions_text([q.strip() for q in questions])
    assert request_id == info_request_id(waiting, await FINGERPRINT(text), 1)
    assert request_id != info_request_id(waiting, hashlib.sha256(text.encode()).hexdigest(), 1)

    # Records added before the request (a late or replayed event) answer nothing.
    await transact(lambda uow: usecases.resume_reviews(uow, FEED, clock, RULES, _documents_added()))
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_NEEDS_INFO
    await transact(lambda uow: usecases.resume_reviews(uow, FEED, clock, RULES, _documents_added(request_id)))
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_IN_REVIEW
    assert transact.committed[-1].type == "review.resumed"
    count = len(transact.committed)
    await transact(lambda uow: usecases.resume_reviews(uow, FEED, clock, RULES, _documents_added(request_id)))
    assert len(transact.committed) == count  # nobody waits now
    # A second request later is another request (another id).
    await usecases.request_more_info(transact, InMemoryInbox(transact), intake, FEED, clock, "spec-1", "a1",
                                     ["And the MRI?"], fingerprint=FINGERPRINT)
    assert len(intake.kept) == 2


async def test_a_request_for_more_information_changes_nothing_when_intake_cannot_keep_it():
    transact, clock = review_transact(), FakeClock()
    await _in_review(transact, clock)
    before = (transact.state.assignments["a1"], len(transact.committed))
    for answer, error in ((CaseUnavailable("UNAVAILABLE"), CaseUnavailable), (False, usecases.CaseClosed)):
        with pytest.raises(error):
            await usecases.request_more_info(transact, InMemoryInbox(transact), _Questions(answer), FEED, clock,
                                             "spec-1", "a1", ["Any imaging?"], fingerprint=FINGERPRINT)
        assert (transact.state.assignments["a1"], len(transact.committed)) == before
    with pytest.raises(usecases.InvalidQuestions) as refused:
        await usecases.request_more_info(transact, InMemoryInbox(transact), _Questions(), FEED, clock, "spec-1", "a1",
                                         ["ok", " ", "x" * 2001, "More?", " more? "] + [f"q{n}" for n in range(7)],
                                         fingerprint=FINGERPRINT)
    assert dict(refused.value.violations[-1:]) == {"questions[4]": "repeats questions[3]"}  # as asked before
    assert {path for path, _ in refused.value.violations} == {"questions", "questions[1]", "questions[2]",
                                                              "questions[4]"}
    with pytest.raises(usecases.NotFound):  # another's assignment: intake is never asked
        await usecases.request_more_info(transact, InMemoryInbox(transact), intake := _Questions(), FEED, clock,
                                         "spec-2", "a1", ["Any imaging?"], fingerprint=FINGERPRINT)
    assert intake.kept == {}


async def test_the_case_is_read_for_its_reviewer_once_the_offer_is_accepted_and_never_for_another():
    transact, clock, cases = review_transact(), FakeClock(), _Cases()
    await _with_offer(transact)
    inbox = InMemoryInbox(transact)
    offered, case, _ = await usecases.get_assignment(inbox, cases, "spec-1", "a1")
    assert offered.state == A.ASSIGNMENT_STATE_OFFERED and case is None and cases.reads == []  # routing facts only
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    accepted, case, _ = await usecases.get_assignment(inbox, cases, "spec-1", "a1")
    assert case == {"case_id": "c1"} and cases.reads == [("c1", "spec-1")]
    for specialist, assignment in (("spec-2", "a1"), ("spec-1", "nope")):
        with pytest.raises(usecases.NotFound):
            await usecases.get_assignment(inbox, cases, specialist, assignment)
    assert len(cases.reads) == 1  # nothing read for them


async def test_reading_what_reviewers_wrote_is_recorded_in_the_access_audit_before_the_reviewer_has_it():
    transact, clock, cases, audit = review_transact(), FakeClock(), _Cases(), RecordedAccesses()
    event = _offered()
    event.specialist_offered.blind_review = True
    await _with_offer(transact, event)
    inbox = InMemoryInbox(transact)
    reviewer = Principal(subject="dr-one@example.org", tenant="t", roles=frozenset({"reviewer"}),
                         specialist_id="spec-1")
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    detail = await usecases.assignment_detail(inbox, cases, audit, clock, reviewer, "a1")
    assert detail.case == {"case_id": "c1"} and audit.accesses == []  # the case is intake's to record
    own = review_pb2.IndependentAssessment(diagnosis_code="C50.912", treatment="Lumpectomy and radiotherapy.")
    await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", own)
    detail = await usecases.assignment_detail(inbox, cases, audit, clock, reviewer, "a1")
    assert detail.assignment.assessment.treatment == "Lumpectomy and radiotherapy."
    assert [a.fields for a in audit.accesses] == [("assessment",)]  # the reviewer's own, read back
    await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    clock.advance(60)
    detail = await usecases.assignment_detail(inbox, cases, audit, clock, reviewer, "a1")
    assert [o.narrative for o in detail.opinions] == ["Because."] and detail.panel == []
    access = audit.accesses[-1]
    assert (access.tenant_id, access.case_id, access.method, access.subject, access.roles, access.fields,
            access.at) == ("t1", "c1", "GetAssignment", "spec-1 as dr-one@example.org", ("reviewer",),
                           ("assessment", "opinions"), clock.now())
    with pytest.raises(usecases.NotFound):  # another reviewer's: nothing read, nothing recorded
        await usecases.assignment_detail(inbox, cases, audit, clock, dataclasses.replace(
            reviewer, specialist_id="spec-2"), "a1")
    assert len(audit.accesses) == 2

    class Down:
        async def record(self, access):
            raise ConnectionError("the audit's store is away")

    with pytest.raises(ConnectionError):  # not recorded: the reviewer gets nothing
        await usecases.assignment_detail(inbox, cases, Down(), clock, reviewer, "a1")


async def test_what_a_reviewer_writes_is_recorded_in_the_access_audit_once_committed_and_a_refusal_is_not():
    transact, clock, audit = review_transact(), FakeClock(), RecordedAccesses()
    event = _offered()
    event.specialist_offered.blind_review = True
    await _with_offer(transact, event)
    for i in (2, 3):
        await _with_offer(transact, _offered(f"a{i}", case_id=f"c{i}"))
    reviewer = Principal(subject="dr-one@example.org", tenant="t", roles=frozenset({"reviewer", "x"}),
                         specialist_id="spec-1")
    author = usecases.Author(reviewer, audit)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    own = review_pb2.IndependentAssessment(diagnosis_code="C50.912", treatment="Lumpectomy and radiotherapy.")

    with pytest.raises(IllegalAction):  # out of turn (blind: the assessment first): nothing written or recorded
        await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), author)
    with pytest.raises(usecases.InvalidOpinion):
        await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", review_pb2.IndependentAssessment(),
                                         author)
    assert audit.accesses == []
    await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", own, author)
    clock.advance(30)
    await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), author)
    await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), "A typo in the narrative.",
                                 author=author)
    await usecases.decline_assignment(transact, FEED, clock, "spec-1", "a2", 1, "On leave.", author)
    await usecases.decline_assignment(transact, FEED, clock, "spec-1", "a3", 1, "   ", author)  # a code alone
    assert [(a.method, a.fields, a.case_id) for a in audit.accesses] == [
        ("RecordIndependentAssessment", ("assessment",), "c1"), ("SubmitOpinion", ("opinion",), "c1"),
        ("AmendOpinion", ("opinion", "amendment_reason"), "c1"), ("DeclineAssignment", ("decline_note",), "c2")]
    first = audit.accesses[1]
    assert (first.tenant_id, first.subject, first.roles, first.at) == (
        "t1", "spec-1 as dr-one@example.org", ("reviewer", "x"), clock.now())


async def test_a_reviewers_write_is_recorded_even_when_the_caller_goes_away_and_a_failed_record_is_told():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    reviewer = Principal(subject="dr-one@example.org", tenant="t", roles=frozenset({"reviewer"}),
                         specialist_id="spec-1")

    class Slow(RecordedAccesses):
        def __init__(self):
            super().__init__()
            self.entered, self.go = asyncio.Event(), asyncio.Event()

        async def record(self, access):
            self.entered.set()
            await self.go.wait()
            await super().record(access)

    audit = Slow()
    call = asyncio.ensure_future(usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(),
                                                         usecases.Author(reviewer, audit)))
    await asyncio.wait_for(audit.entered.wait(), 5)  # committed; its record under way
    call.cancel()  # the reviewer's call is cancelled (deadline, disconnect)
    with pytest.raises(asyncio.CancelledError):
        await call
    audit.go.set()
    async def recorded():
        return audit.accesses or None

    await eventually(recorded, 5, "the record, made all the same")
    assert [a.method for a in audit.accesses] == ["SubmitOpinion"]

    class Down:
        async def record(self, access):
            raise ConnectionError("the audit's store is away")

    with capture_logs() as logs, pytest.raises(usecases.NotRecorded):  # told: the amendment stands, unrecorded
        await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), "Another typo.",
                                     author=usecases.Author(reviewer, Down()))
    assert [o.version for o in await InMemoryInbox(transact).opinions_of("a1")] == [1, 2]
    [failed] = [e for e in logs if e["event"] == "audit_record_failed"]
    assert (failed["method"], failed["error"]) == ("AmendOpinion", "ConnectionError")


async def test_a_signed_opinion_is_immutable_and_an_amendment_is_a_new_version_with_its_reason():
    transact, clock, cases = review_transact(), FakeClock(), _Cases()
    await _with_offer(transact)
    with pytest.raises(IllegalAction, match=r"amendment_reason\) needs state OPINION_SUBMITTED"):  # nothing signed yet
        await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), "typo")
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    with pytest.raises(IllegalAction, match=r"SubmitOpinion \(or a DecidePriorAuth decision\) needs state IN_REVIEW"):  # signed: no second one
        await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(narrative="Changed."))
    with pytest.raises(usecases.InvalidOpinion) as refused:
        await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), " ")
    assert [f for f, _ in refused.value.violations] == ["reason"]
    clock.advance(3600)
    amended = _opinion(diagnosis_concordance=case_pb2.CONCORDANCE_DIFFERENT, reviewer_diagnosis_code="D05.11",
                       narrative="Pathology re-read: DCIS.")
    with pytest.raises(usecases.NotFound):  # another reviewer's
        await usecases.amend_opinion(transact, FEED, clock, "spec-2", "a1", amended, "Pathology re-read")
    await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", amended, "Pathology re-read")
    _, _, versions = await usecases.get_assignment(InMemoryInbox(transact), cases, "spec-1", "a1")
    assert [(v.version, v.narrative, v.amendment_reason) for v in versions] == [
        (1, "Because.", ""), (2, "Pathology re-read: DCIS.", "Pathology re-read")]
    event = transact.committed[-1]
    assert event.type == "opinion.amended" and event.opinion_amended.opinion.version == 2
    assert event.opinion_amended.opinion.reviewer_diagnosis_code == "D05.11"
    wire = event.SerializeToString()
    assert b"DCIS" not in wire and b"re-read" not in wire  # codes only


async def test_a_blind_review_records_the_reviewers_own_assessment_first_and_keeps_it_with_the_opinion():
    transact, clock, cases = review_transact(), FakeClock(), _Cases()
    event = _offered()
    event.specialist_offered.blind_review = True
    await _with_offer(transact, event)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    inbox = InMemoryInbox(transact)
    assert withholds_first_opinion((await usecases.get_assignment(inbox, cases, "spec-1", "a1"))[0])
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    with pytest.raises(IllegalAction, match="records the independent assessment first"):
        await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    with pytest.raises(usecases.InvalidOpinion) as refused:
        await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", review_pb2.IndependentAssessment())
    assert [f for f, _ in refused.value.violations] == ["assessment.diagnosis_code", "assessment.treatment"]
    own = review_pb2.IndependentAssessment(diagnosis_code="C50.912", treatment="Lumpectomy and radiotherapy.")
    recorded = await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", own)
    clock.advance(60)
    again = await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", own)  # its answer lost: retried
    assert again == recorded and again.assessment.recorded_at == recorded.assessment.recorded_at
    other = review_pb2.IndependentAssessment(diagnosis_code="C50.911", treatment="Mastectomy.")
    with pytest.raises(IllegalAction, match="recorded already"):  # kept as it was
        await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", other)
    assert not withholds_first_opinion((await usecases.get_assignment(inbox, cases, "spec-1", "a1"))[0])
    await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    _, _, [signed] = await usecases.get_assignment(inbox, cases, "spec-1", "a1")
    assert signed.blind and signed.assessment.diagnosis_code == "C50.912"
    assert transact.committed[-1].opinion_submitted.blind


async def test_a_case_that_is_not_blind_has_no_first_assessment_to_record():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    with pytest.raises(IllegalAction, match="does not ask for blind review"):
        await usecases.record_assessment(transact, FEED, clock, "spec-1", "a1", review_pb2.IndependentAssessment(
            diagnosis_code="C50.912", treatment="x"))


async def test_a_confirmed_diagnosis_is_the_cases_and_a_stale_amendment_signs_nothing():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)  # the case's diagnosis: C50.911
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    other = _opinion(diagnosis_concordance=case_pb2.CONCORDANCE_SAME, reviewer_diagnosis_code="J45.909")
    with pytest.raises(usecases.InvalidOpinion) as refused:
        await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", other)
    assert [f for f, _ in refused.value.violations] == ["opinion.reviewer_diagnosis_code"]
    assert transact.state.opinions == {} and transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_IN_REVIEW
    contradiction = _opinion(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_DIFFERENT)  # beside diagnosis_concordance REFINED
    assert "opinion.diagnosis_concordance" in {f for f, _ in validate_opinion(contradiction)}
    await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(narrative="v2"), "typo",
                                 amends_version=1)
    with pytest.raises(usecases.Superseded):  # the same call again (a retry): version 1 is no longer the latest
        await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(narrative="v2"), "typo",
                                     amends_version=1)
    with pytest.raises(IllegalAction, match="amends_version 3: the opinion's latest version is 2"):
        await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), "typo", amends_version=3)
    with pytest.raises(usecases.InvalidOpinion) as negative:
        await usecases.amend_opinion(transact, FEED, clock, "spec-1", "a1", _opinion(), "typo", amends_version=-1)
    assert [f for f, _ in negative.value.violations] == ["amends_version"]
    assert sorted(o.version for o in transact.state.opinions.values()) == [1, 2]



def _panel_offer(assignment_id, specialist_id, adjudicates=False, panel_opinion_ids=()):
    event = _offered(assignment_id=assignment_id, specialist_id=specialist_id)
    event.specialist_offered.panel_size = 2
    event.specialist_offered.adjudicates = adjudicates
    event.specialist_offered.panel_opinion_ids.extend(panel_opinion_ids)
    return event


async def _signs(transact, clock, assignment_id, specialist_id, opinion):
    await usecases.accept_assignment(transact, FEED, clock, specialist_id, assignment_id)
    await usecases.start_review(transact, FEED, clock, specialist_id, assignment_id)
    await usecases.submit_opinion(transact, FEED, clock, specialist_id, assignment_id, opinion)


async def test_panel_members_review_independently_and_an_adjudicator_weighs_every_members_opinion():
    transact, clock = review_transact(), FakeClock()
    inbox = InMemoryInbox(transact)
    for aid, sid in (("p1", "m1"), ("p2", "m2")):
        await _with_offer(transact, _panel_offer(aid, sid))
    await _signs(transact, clock, "p1", "m1", _opinion())
    signed = transact.committed[-1]
    assert signed.type == "panel.opinion_signed" and signed.panel_opinion_signed.panel_size == 2  # not the case's
    await usecases.accept_assignment(transact, FEED, clock, "m2", "p2")
    other = transact.state.assignments["p2"]
    assert await usecases.panel_view(inbox, other) == []  # m2 cannot see m1's opinion before signing
    second = clients.opinion(diagnosis_concordance=case_pb2.CONCORDANCE_DIFFERENT, reviewer_diagnosis_code="C50.919",
                             treatment_concordance=case_pb2.CONCORDANCE_DIFFERENT, recommendation="Another plan.",
                             narrative="A different view.", confidence=60)
    await usecases.start_review(transact, FEED, clock, "m2", "p2")
    await usecases.submit_opinion(transact, FEED, clock, "m2", "p2", second)
    after = await usecases.panel_view(inbox, transact.state.assignments["p2"])
    assert [o.specialist_id for o in after] == ["m1"]  # once signed, the others' views
    count = len(transact.committed)
    with pytest.raises(IllegalAction, match="panel member"):  # one view of the verdict: never the case's opinion
        await usecases.amend_opinion(transact, FEED, clock, "m1", "p1", _opinion(), "Changed my mind.")
    assert len(transact.committed) == count and [o.version for o in await inbox.opinions_of("p1")] == [1]

    ids = [o.opinion_id for o in sorted(transact.state.opinions.values(), key=lambda o: o.specialist_id)]
    await _with_offer(transact, _panel_offer("adj", "a1", adjudicates=True, panel_opinion_ids=ids))
    await usecases.accept_assignment(transact, FEED, clock, "a1", "adj")
    weighed = await usecases.panel_view(inbox, transact.state.assignments["adj"])
    assert sorted(o.specialist_id for o in weighed) == ["m1", "m2"]
    audit, adjudicator = RecordedAccesses(), Principal(subject="adj@example.org", tenant="t", roles=frozenset(
        {"reviewer"}), specialist_id="a1")
    detail = await usecases.assignment_detail(inbox, _Cases(), audit, clock, adjudicator, "adj")
    assert len(detail.panel) == 2 and [a.fields for a in audit.accesses] == [("panel_opinions",)]
    await usecases.start_review(transact, FEED, clock, "a1", "adj")
    await usecases.submit_opinion(transact, FEED, clock, "a1", "adj", _opinion())
    final = transact.committed[-1]
    assert final.type == "opinion.submitted"
    assert final.opinion_submitted.panel_outcome == events_pb2.PANEL_OUTCOME_ADJUDICATED
    assert sorted(final.opinion_submitted.panel_opinion_ids) == sorted(ids)
    await usecases.amend_opinion(transact, FEED, clock, "a1", "adj", _opinion(), "A typo.")  # the case's: amended
    assert transact.committed[-1].type == "opinion.amended"


async def test_an_agreed_panel_gets_the_cases_opinion_naming_every_member():
    transact = review_transact()
    agreed = events_pb2.OpinionSubmitted(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_REFINED,
                                         treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE)
    concluded = new_event(events_pb2.PanelConcluded(outcome=events_pb2.PANEL_OUTCOME_AGREED,
                                                    opinion_ids=["o1", "o2"], agreed=agreed),
                          case_id="c1", tenant_id="t1", producer="matching")
    await transact(lambda uow: usecases.conclude_panel(uow, concluded))
    [final] = transact.committed
    o = final.opinion_submitted
    assert final.type == "opinion.submitted" and o.panel_outcome == events_pb2.PANEL_OUTCOME_AGREED
    assert list(o.panel_opinion_ids) == ["o1", "o2"] and o.diagnosis == case_pb2.DIAGNOSIS_CONCORDANCE_REFINED
    assert o.diagnosis_concordance == case_pb2.CONCORDANCE_REFINED  # for older readers too



async def test_a_blind_adjudicator_sees_no_members_view_before_their_own_assessment():
    transact, clock = review_transact(), FakeClock()
    offer = _panel_offer("adj", "a1", adjudicates=True, panel_opinion_ids=["o1"])
    offer.specialist_offered.blind_review = True
    await _with_offer(transact, offer)
    await usecases.accept_assignment(transact, FEED, clock, "a1", "adj")
    calls = []

    class Inbox(InMemoryInbox):
        async def panel_opinions(self, assignment):
            calls.append(assignment.assignment_id)
            return []

    assert await usecases.panel_view(Inbox(transact), transact.state.assignments["adj"]) == [] and calls == []
    await usecases.record_assessment(transact, FEED, clock, "a1", "adj", review_pb2.IndependentAssessment(
        diagnosis_code="C50.911", treatment="Own view."))
    await usecases.panel_view(Inbox(transact), transact.state.assignments["adj"])
    assert calls == ["adj"]  # once assessed, the members' views are read


async def test_a_command_raced_by_another_change_is_decided_again_once(monkeypatch):
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    real, raced = InMemoryReviewRepository.save_move, []

    async def save_move(self, before, after):
        if not raced:  # an SLA alarm (or another replica) wrote the assignment first
            raced.append(before.version)
            return False
        return await real(self, before, after)

    monkeypatch.setattr(InMemoryReviewRepository, "save_move", save_move)
    accepted = await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    assert accepted.state == A.ASSIGNMENT_STATE_ACCEPTED and raced == [1]
    assert [e.type for e in transact.committed] == ["assignment.accepted"]  # once


async def test_a_move_starts_from_the_version_the_feed_holds_without_reading_it(monkeypatch):
    transact, clock, reads = review_transact(), FakeClock(), []
    read = InMemoryReviewRepository.get_for_specialist

    async def counted(self, assignment_id, specialist_id):
        reads.append(assignment_id)
        return await read(self, assignment_id, specialist_id)

    monkeypatch.setattr(InMemoryReviewRepository, "get_for_specialist", counted)
    await _with_offer(transact)
    await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    done = await usecases.submit_opinion(transact, FEED, clock, "spec-1", "a1", _opinion())
    assert reads == [] and done.state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED
    assert [e.type for e in transact.committed] == ["assignment.accepted", "review.started", "opinion.submitted"]
    with pytest.raises(usecases.NotFound):  # another reviewer's call reads the store, which has it not for them
        await usecases.start_review(transact, FEED, clock, "spec-2", "a1")
    assert reads == ["a1"]
    assert FEED.latest("a1") is None  # signed: no move of the reviewer's is left, nothing of it is kept


async def test_an_accept_or_a_start_asked_again_once_made_answers_as_it_stands_and_changes_nothing():
    # A reviewer app whose answer was lost on the way back retries: an error would say it failed.
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    accepted = await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    clock.advance(30)
    assert await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1") == accepted
    started = await usecases.start_review(transact, FEED, clock, "spec-1", "a1")
    assert await usecases.start_review(transact, FEED, clock, "spec-1", "a1") == started
    assert [e.type for e in transact.committed] == ["assignment.accepted", "review.started"]
    with pytest.raises(IllegalAction, match="AcceptAssignment needs state OFFERED"):  # a step back is still refused
        await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")


async def test_an_accept_asked_again_is_answered_as_the_store_has_it_not_from_a_copy_behind_it():
    transact, clock = review_transact(), FakeClock()
    here, elsewhere = AssignmentFeed(), AssignmentFeed()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, here, clock, "spec-1", "a1")  # this replica holds ACCEPTED v2
    await usecases.start_review(transact, elsewhere, clock, "spec-1", "a1")  # another moved it on: v3
    with pytest.raises(IllegalAction, match="the assignment is IN_REVIEW"):
        await usecases.accept_assignment(transact, here, clock, "spec-1", "a1")
    assert here.latest("a1") is None  # the copy found behind is not used again


async def test_a_move_on_a_version_the_store_has_left_is_decided_on_the_stores():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)  # this replica's feed holds the offer
    elsewhere = AssignmentFeed()  # another replica's: it accepts, and this feed never hears of it
    await usecases.accept_assignment(transact, elsewhere, clock, "spec-1", "a1")
    # Accepted on the offer held here, the write finds the store moved on: decided again on
    # the store's version, the same reviewer's acceptance is there already (a retry).
    again = await usecases.accept_assignment(transact, FEED, clock, "spec-1", "a1")
    assert again.state == A.ASSIGNMENT_STATE_ACCEPTED and again.version == 2
    assert FEED.latest("a1") is None  # the copy found behind is not used again
    started = await usecases.start_review(transact, FEED, clock, "spec-1", "a1")  # out of turn on the copy held here
    assert started.state == A.ASSIGNMENT_STATE_IN_REVIEW and started.version == 3
    assert [e.type for e in transact.committed] == ["assignment.accepted", "review.started"]

"""review's prior-authorization decision over in-memory fakes: the CMS-0057-F clock
from receipt, every item decided at once and kept with the case in intake before
anything moves, a denial only with a specific reason and by a qualified reviewer,
a pend as the NEEDS_INFO round trip, and codes only in the event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devstack import clients
from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.v1 import case_pb2, events_pb2, review_pb2
from services.review import reference, usecases
from services.review.domain import priorauth
from services.review.domain.assignment import IllegalAction
from services.review.domain.priorauth import APPROVE, DENY, MODIFY, PEND, ItemDecision
from services.review.domain.sla import SlaRules
from services.review.feed import AssignmentFeed
from tests.fakes.review import FINGERPRINT, InMemoryInbox, InMemoryReviewRepository, review_transact
from tests.fakes.transact import Committed

A = review_pb2
FEED = AssignmentFeed()


@pytest.fixture(autouse=True)
def _feed_forgets():
    """The feed keeps the latest versions it saw, and these tests reuse assignment ids:
    each test starts with it empty."""
    FEED.__init__()
ORTHO, ONCOLOGY = "207X00000X", "207RX0202X"
REASONS = reference.denial_reasons()


def _offered(specialty=ORTHO, received_hours_ago=10, urgency=case_pb2.URGENCY_EXPEDITED):
    clock = FakeClock()
    offer = events_pb2.SpecialistOffered(
        assignment_id="pa-a1", specialist_id="spec-1", specialty=specialty, diagnosis_code="M17.11", urgency=urgency,
        kind=case_pb2.CASE_KIND_PRIOR_AUTH, requested_services=[
            case_pb2.RequestedService(key="1", sequence=1, system="CPT", code="27447", quantity=1,
                                      qualified_specialties=[ORTHO, "207XS0117X"]),
            case_pb2.RequestedService(key="2", sequence=2, system="CPT", code="97110", quantity=12,
                                      qualified_specialties=[ORTHO, "208100000X"])])
    offer.respond_by.FromDatetime(clock.now() + timedelta(hours=4))
    offer.received_at.FromDatetime(clock.now() - timedelta(hours=received_hours_ago))
    return new_event(offer, case_id="pa-c1", tenant_id="payer", producer="matching", occurred_at=clock.now())


class _Intake:
    """intake's side: what it was told to keep (decisions, questions)."""

    def __init__(self, answer=True):
        self.decisions: dict[str, tuple] = {}
        self.questions: dict[str, tuple] = {}
        self.answer = answer

    async def record_prior_auth_decision(self, case_id, decision_id, specialist_id, decisions, amendment_reason=""):
        self.decisions.setdefault(decision_id, (case_id, specialist_id, tuple(decisions)) + (
            (amendment_reason,) if amendment_reason else ()))
        return self.answer

    async def record_info_request(self, case_id, request_id, specialist_id, questions):
        self.questions.setdefault(request_id, (case_id, specialist_id, tuple(questions)))
        return self.answer


RULES = SlaRules()


def _an_opinion():
    return clients.opinion(diagnosis_concordance=case_pb2.CONCORDANCE_SAME, treatment_concordance=case_pb2.CONCORDANCE_SAME,
                           recommendation="Proceed.", narrative="Because.", confidence=80)


async def _in_review(offer=None, rules=RULES):
    transact, clock = review_transact(), FakeClock()
    await usecases.record_offers(Committed(transact, InMemoryReviewRepository), FEED, clock, [offer or _offered()])
    accepted = await usecases.accept_assignment(transact, FEED, clock, "spec-1", "pa-a1", rules)
    await usecases.start_review(transact, FEED, clock, "spec-1", "pa-a1")
    return transact, clock, accepted


async def _decide(transact, clock, intake, decisions, questions=(), amendment_reason=""):
    return await usecases.decide_prior_auth(transact, InMemoryInbox(transact), intake, FEED, clock, REASONS,
                                            "spec-1", "pa-a1", decisions, list(questions), amendment_reason,
                                            fingerprint=FINGERPRINT)


DENIAL = ItemDecision("2", DENY, reason_code="QUANTITY_EXCEEDS_GUIDELINES",
                      provider_text="Twelve visits exceed the guideline without a documented plateau.")


async def test_the_clock_is_the_cms_one_from_receipt_not_from_acceptance():
    _, clock, accepted = await _in_review(rules=SlaRules(prior_auth_expedited_seconds=72 * 3600))
    assert accepted.sla.budget_seconds == 72 * 3600
    assert accepted.sla.started_at == clock.now() - timedelta(hours=10)  # received ten hours before
    _, _, standard = await _in_review(_offered(urgency=case_pb2.URGENCY_STANDARD))
    assert standard.sla.budget_seconds == 7 * 24 * 3600


async def test_a_decision_is_kept_in_intake_then_announced_with_codes_only():
    transact, clock, _ = await _in_review()
    intake = _Intake()
    decisions = [ItemDecision("1", APPROVE), DENIAL]
    done = await _decide(transact, clock, intake, decisions)
    assert done.state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED and done.sla.stopped_at is not None
    [(decision_id, kept)] = intake.decisions.items()
    assert kept == ("pa-c1", "spec-1", tuple(decisions))
    event = transact.committed[-1]
    assert event.type == "opinion.submitted" and event.opinion_submitted.opinion_id == decision_id
    assert [(d.item_key, d.action, d.reason_code) for d in event.opinion_submitted.prior_auth_decisions] == [
        ("1", case_pb2.ITEM_ACTION_APPROVE, ""), ("2", case_pb2.ITEM_ACTION_DENY, "QUANTITY_EXCEEDS_GUIDELINES")]
    assert b"plateau" not in event.SerializeToString()  # the reviewer's words stay in intake
    count = len(transact.committed)
    again = await _decide(transact, clock, intake, decisions)  # a retry after a lost reply: the same decision
    assert again == done and len(transact.committed) == count and len(intake.decisions) == 1
    with pytest.raises(IllegalAction):  # signed: another decision without an amendment is refused
        await _decide(transact, clock, intake, [ItemDecision("1", APPROVE), ItemDecision("2", APPROVE)])
    with pytest.raises(IllegalAction, match="DecidePriorAuth"):  # nor is it amended as a second opinion is
        await usecases.amend_opinion(transact, FEED, clock, "spec-1", "pa-a1", _an_opinion(), "Changed my mind.")
    assert len(transact.committed) == count and await InMemoryInbox(transact).opinions_of("pa-a1") == []
    # Its id comes from the decisions' keyed fingerprint, never from the reviewer's words as they are.
    assert decision_id == priorauth.decision_id("pa-a1:0", await FINGERPRINT(priorauth.decisions_text(decisions)))
    assert decision_id != priorauth.decision_id("pa-a1:0", priorauth.decisions_text(decisions))


async def test_a_denial_without_a_specific_reason_is_refused_naming_the_fields_and_nothing_moves():
    transact, clock, before = await _in_review()
    intake = _Intake()
    with pytest.raises(usecases.InvalidDecision) as refused:
        await _decide(transact, clock, intake, [ItemDecision("1", APPROVE), ItemDecision("2", DENY)])
    assert {path for path, _ in refused.value.violations} == {"decisions[1].reason_code",
                                                              "decisions[1].provider_text"}
    assert intake.decisions == {} and transact.state.assignments["pa-a1"].state == A.ASSIGNMENT_STATE_IN_REVIEW


async def test_a_reviewer_of_another_specialty_may_approve_but_not_deny_or_modify():
    transact, clock, _ = await _in_review(_offered(specialty=ONCOLOGY))
    intake = _Intake()
    modify = ItemDecision("2", MODIFY, approved_quantity=6, provider_text="Six visits, then reassess.")
    for decisions in ([ItemDecision("1", APPROVE), DENIAL], [ItemDecision("1", APPROVE), modify]):
        with pytest.raises(usecases.InvalidDecision) as refused:
            await _decide(transact, clock, intake, decisions)
        assert [(p, r) for p, r in refused.value.violations if p == "decisions[1].action"] == [
            ("decisions[1].action", f"a {'denial' if decisions[1].action == DENY else 'modification'} needs a "
                                    "reviewer of the same or a similar specialty as the service")]
    assert intake.decisions == {}
    done = await _decide(transact, clock, intake, [ItemDecision("1", APPROVE), ItemDecision("2", APPROVE)])
    assert done.state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED


async def test_every_item_is_decided_once_and_only_the_requests():
    transact, clock, _ = await _in_review()
    with pytest.raises(usecases.InvalidDecision) as refused:
        await _decide(transact, clock, _Intake(), [ItemDecision("1", APPROVE), ItemDecision("1", APPROVE),
                                                   ItemDecision("9", APPROVE)])
    assert {path for path, _ in refused.value.violations} == {"decisions[1].item_key", "decisions[2].item_key", "decisions"}


async def test_pending_is_the_needs_info_round_trip_for_every_item():
    transact, clock, _ = await _in_review()
    intake = _Intake()
    with pytest.raises(usecases.InvalidDecision) as refused:
        await _decide(transact, clock, intake, [ItemDecision("1", PEND), ItemDecision("2", APPROVE)])
    assert {path for path, _ in refused.value.violations} == {"decisions", "questions"}
    waiting = await _decide(transact, clock, intake, [ItemDecision("1", PEND), ItemDecision("2", PEND)],
                            ["Send the physical therapy notes of the last six weeks."])
    assert waiting.state == A.ASSIGNMENT_STATE_NEEDS_INFO and len(intake.questions) == 1 and intake.decisions == {}
    assert transact.committed[-1].type == "info.requested"


async def test_a_second_opinion_is_not_decided_here_nor_a_prior_authorization_opinion_signed():
    from tests.unit.test_review_usecases import _opinion
    transact, clock, _ = await _in_review()
    with pytest.raises(IllegalAction, match="DecidePriorAuth"):
        await usecases.submit_opinion(transact, FEED, clock, "spec-1", "pa-a1", _opinion())


async def test_nothing_moves_when_intake_cannot_keep_the_decision():
    transact, clock, _ = await _in_review()
    before = (transact.state.assignments["pa-a1"], len(transact.committed))
    with pytest.raises(usecases.CaseClosed):
        await _decide(transact, clock, _Intake(answer=False), [ItemDecision("1", APPROVE), DENIAL])
    assert (transact.state.assignments["pa-a1"], len(transact.committed)) == before


async def test_an_expedited_request_past_its_configured_clock_breaches_and_escalates():
    # Received 10 hours ago, with a clock configured to 1 hour: overdue as soon as it is accepted.
    transact, clock, accepted = await _in_review(rules=SlaRules(prior_auth_expedited_seconds=3600))
    await usecases.sla_due(transact, FEED, clock, ["pa-a1"])
    breached = [e for e in transact.committed if e.type == "sla.changed"]
    assert [e.sla_changed.change for e in breached] == [events_pb2.SLA_CHANGE_BREACHED]
    assert transact.state.assignments["pa-a1"].sla.breached_at == clock.now()


async def test_a_decision_is_amended_only_with_a_reason_and_every_item_decided_again():
    transact, clock, _ = await _in_review()
    intake = _Intake()
    with pytest.raises(IllegalAction, match=r"amendment_reason\) needs state OPINION_SUBMITTED"):  # nothing to amend yet
        await _decide(transact, clock, intake, [ItemDecision("1", APPROVE), DENIAL], amendment_reason="Appeal.")
    first = await _decide(transact, clock, intake, [ItemDecision("1", APPROVE), DENIAL])
    assert first.decisions_made == 1 and transact.committed[-1].type == "opinion.submitted"
    with pytest.raises(usecases.InvalidDecision) as refused:
        await _decide(transact, clock, intake, [ItemDecision("1", APPROVE), ItemDecision("2", PEND)],
                      questions=["Notes?"], amendment_reason="Appeal with new records.")
    assert ("decisions", "an amendment decides every item: none is pended") in refused.value.violations
    approved = [ItemDecision("1", APPROVE), ItemDecision("2", APPROVE)]
    again = await _decide(transact, clock, intake, approved, amendment_reason="Appeal: a plateau is documented.")
    assert again.state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED and again.decisions_made == 2
    event = transact.committed[-1]
    assert event.type == "opinion.amended" and event.opinion_amended.opinion.version == 2
    assert [d.action for d in event.opinion_amended.opinion.prior_auth_decisions] == [case_pb2.ITEM_ACTION_APPROVE] * 2
    first_id, second_id = intake.decisions  # each decision kept under its own id, the reason with the amendment
    assert event.opinion_amended.opinion.opinion_id == second_id != first_id
    assert intake.decisions[second_id][-1] == "Appeal: a plateau is documented."
    count = len(transact.committed)
    retried = await _decide(transact, clock, intake, approved, amendment_reason="Appeal: a plateau is documented.")
    assert retried == again and len(transact.committed) == count and len(intake.decisions) == 2  # announced once
    with pytest.raises(IllegalAction):  # another decision without an amendment's reason is refused
        await _decide(transact, clock, intake, [ItemDecision("1", APPROVE), DENIAL])


async def test_the_cms_clock_runs_on_while_the_request_is_pended():
    transact, clock, _ = await _in_review()
    waiting = await _decide(transact, clock, _Intake(), [ItemDecision("1", PEND), ItemDecision("2", PEND)],
                            ["The therapy notes, please."])
    assert waiting.state == A.ASSIGNMENT_STATE_NEEDS_INFO and waiting.sla.running_since is not None  # not paused

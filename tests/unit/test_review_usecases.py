"""review's use cases with in-memory fakes: no broker, no store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.v1 import case_pb2, events_pb2, review_pb2
from services.review import usecases
from services.review.domain.assignment import IllegalAction
from tests.fakes.review import InMemoryInbox, InMemoryReviewRepository, review_transact
from tests.fakes.transact import Committed

A = review_pb2


def _offered(assignment_id="a1", specialist_id="spec-1", case_id="c1"):
    offer = events_pb2.SpecialistOffered(assignment_id=assignment_id, specialist_id=specialist_id,
                                         specialty="207RX0202X", diagnosis_code="C50.911",
                                         urgency=case_pb2.URGENCY_STANDARD)
    offer.respond_by.FromDatetime(FakeClock().now() + timedelta(days=1))
    return new_event(offer, case_id=case_id, tenant_id="t1", producer="matching", occurred_at=FakeClock().now())


def _opinion(**changes):
    opinion = review_pb2.Opinion(diagnosis_concordance=case_pb2.CONCORDANCE_REFINED,
                                 treatment_concordance=case_pb2.CONCORDANCE_SAME,
                                 recommendation="Proceed.", narrative="Because.", confidence=80, attestation=True)
    for k, v in changes.items():
        setattr(opinion, k, v)
    return opinion


async def _with_offer(transact, event=None):
    [added] = await usecases.record_offers(Committed(transact, InMemoryReviewRepository), [event or _offered()])
    return added


async def test_an_offer_lands_in_the_inbox_once_however_often_it_arrives():
    transact = review_transact()
    event = _offered()
    assert [await _with_offer(transact, event) for _ in range(3)] == [True, False, False]
    inbox = await usecases.list_assignments(InMemoryInbox(transact), "spec-1", [])
    assert [a.assignment_id for a in inbox] == ["a1"]
    assert inbox[0].state == A.ASSIGNMENT_STATE_OFFERED and inbox[0].tenant_id == "t1"
    assert transact.committed == []  # an offer causes no event of review's


async def test_the_reviewer_works_an_assignment_and_each_step_emits_its_event():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, clock, "spec-1", "a1")
    clock.advance(60)
    await usecases.start_review(transact, clock, "spec-1", "a1")
    done = await usecases.submit_opinion(transact, clock, "spec-1", "a1", _opinion())
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
        await usecases.accept_assignment(transact, FakeClock(), "spec-2", "a1")
    assert transact.state.assignments["a1"].state == A.ASSIGNMENT_STATE_OFFERED
    assert transact.committed == []


async def test_a_step_out_of_turn_is_refused_and_nothing_is_written():
    transact = review_transact()
    await _with_offer(transact)
    with pytest.raises(IllegalAction, match="needs state IN_REVIEW"):
        await usecases.submit_opinion(transact, FakeClock(), "spec-1", "a1", _opinion())
    assert transact.state.opinions == {} and transact.committed == []


async def test_an_invalid_opinion_names_every_field_and_is_not_stored():
    transact, clock = review_transact(), FakeClock()
    await _with_offer(transact)
    await usecases.accept_assignment(transact, clock, "spec-1", "a1")
    await usecases.start_review(transact, clock, "spec-1", "a1")
    with pytest.raises(usecases.InvalidOpinion) as info:
        await usecases.submit_opinion(transact, clock, "spec-1", "a1",
                                      _opinion(recommendation=" ", confidence=101, attestation=False))
    assert [f for f, _ in info.value.violations] == [
        "opinion.recommendation", "opinion.confidence", "opinion.attestation"]
    assert transact.state.opinions == {}

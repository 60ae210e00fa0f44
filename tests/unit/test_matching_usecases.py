"""matching's use cases with in-memory fakes: no broker, no store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta, timezone

import pytest

from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.v1 import case_pb2, events_pb2
from services.matching import reference, usecases
from services.matching.domain.directory import Affiliation
from services.matching.domain.offers import OfferRules, Waiting
from tests.fakes.matching import NEUROLOGY, InMemoryDirectory, matching_transact, specialist
from tests.fakes.transact import Committed


def spec(sid, free=2, **other):
    return specialist(sid, capacity=2, free=free, **other)


def _submitted(case_id="c1", code="C50.911", jurisdiction="US-CA"):
    return new_event(events_pb2.CaseSubmitted(diagnosis_code=code, urgency=case_pb2.URGENCY_STANDARD,
                                              jurisdiction=jurisdiction, language="en"),
                     case_id=case_id, tenant_id="t1", producer="intake")


async def _match(transact, event, ttl=3600):
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(ttl_seconds=ttl))
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))


async def test_the_best_specialist_with_a_free_slot_gets_the_offer_and_the_slot_is_taken():
    transact = matching_transact(spec("busy", free=0), spec("free", free=2))
    event = _submitted()
    await _match(transact, event)
    started, offered = transact.committed
    assert started.type == "matching.started" and offered.type == "specialist.offered"
    assert offered.specialist_offered.specialist_id == "free" and offered.causation_id == event.event_id
    assert offered.specialist_offered.respond_by.ToDatetime().timestamp() - FakeClock().now().timestamp() == 3600
    assert transact.state.specialists["free"].free_slots == 1
    assert transact.state.directory_reads == [False]  # the directory as last read was enough
    [offer] = transact.state.offers.values()
    assert offer.assignment_id == offered.specialist_offered.assignment_id


async def test_nobody_eligible_unmatches_with_the_reason():
    transact = matching_transact(spec("neuro", specialties=(NEUROLOGY,)), spec("ny", licensed=("US-NY",)))
    await _match(transact, _submitted())
    assert [e.type for e in transact.committed] == ["matching.started", "case.unmatched"]
    reason = transact.committed[1].case_unmatched.reason
    # The directory is narrowed by specialty and licence before the rules run: nobody is left.
    assert reason == ("no eligible specialist for C50.911 in US-CA: "
                      "nobody listed has 207RX0202X or 207RH0003X or 2086X0206X or 2085R0001X and a licence in US-CA")
    assert transact.state.offers == {}
    assert transact.state.directory_reads == [False, True]  # unmatched only after a fresh read


async def test_the_last_slot_goes_to_one_case_only_and_the_next_waits_for_one():
    transact = matching_transact(spec("only", free=1))
    await _match(transact, _submitted("c1"))
    await _match(transact, _submitted("c2"))
    assert [e.type for e in transact.committed].count("specialist.offered") == 1
    waiting = transact.committed[-1]
    assert waiting.type == "case.waiting" and waiting.case_id == "c2"
    assert waiting.case_waiting.eligible_at_capacity == 1
    assert waiting.case_waiting.reason == "1 eligible specialist is at capacity: the case waits for a free slot"
    assert waiting.case_waiting.wait_until.ToDatetime(tzinfo=timezone.utc) == FakeClock().now() + timedelta(days=1)
    assert set(transact.state.waiting) == {"c2"} and transact.state.unmatched == {}


def _policy(**rules):
    return usecases.MatchPolicy(reference.specialty_map(), OfferRules(**rules))


async def _retry(transact, case_id, clock, policy=None):
    return await transact(lambda uow: usecases.offer_waiting(uow, case_id, clock, policy or _policy()))


async def test_a_waiting_case_is_offered_once_a_slot_comes_free_and_tried_later_until_then():
    transact, clock = matching_transact(spec("only", free=1)), FakeClock()
    await _match(transact, _submitted("c1"))
    submitted = _submitted("c2")
    await _match(transact, submitted)
    _, first_try = transact.state.waiting["c2"]
    assert first_try == clock.now() + timedelta(seconds=30)
    clock.advance(30)
    assert await _retry(transact, "c2", clock) is False  # still no slot: later, and later still
    waiting, second_try = transact.state.waiting["c2"]
    assert waiting.tries == 1 and second_try == clock.now() + timedelta(seconds=60)
    [first] = _offers(transact)
    opinion = new_event(events_pb2.OpinionSubmitted(assignment_id=first.assignment_id, specialist_id="only"),
                        case_id="c1", tenant_id="t1", producer="review")
    await usecases.release_capacity(Committed(transact, InMemoryDirectory), [opinion])
    assert await _retry(transact, "c2", clock) is True
    offered = transact.committed[-1]
    assert offered.type == "specialist.offered" and offered.case_id == "c2"
    assert offered.causation_id == submitted.event_id  # caused by the case's own submission, as any first offer
    assert transact.state.waiting == {} and await _retry(transact, "c2", clock) is True  # a repeat: nothing


async def test_a_case_waits_at_most_its_limit_then_goes_unmatched_saying_how_long():
    transact, clock = matching_transact(spec("only", free=0)), FakeClock()
    await transact(lambda uow: usecases.match_case(uow, _submitted("c1"), clock, _policy(capacity_wait_seconds=3600)))
    assert transact.committed[-1].type == "case.waiting"
    clock.advance(3590)
    assert await _retry(transact, "c1", clock, _policy(capacity_wait_seconds=3600)) is False
    _, next_try = transact.state.waiting["c1"]
    assert next_try == FakeClock().now() + timedelta(seconds=3600)  # never past the limit (it would be +30 s)
    clock.advance(10)
    assert await _retry(transact, "c1", clock, _policy(capacity_wait_seconds=3600)) is True
    unmatched = transact.committed[-1]
    assert unmatched.type == "case.unmatched" and transact.state.waiting == {}
    assert unmatched.case_unmatched.cause == events_pb2.UNMATCHED_CAUSE_NO_CAPACITY
    assert unmatched.case_unmatched.reason == "waited 60 min for a free slot; 1 eligible specialist is still at capacity"


async def test_an_expedited_case_waits_no_longer_than_its_offer_could_be_answered_in():
    transact = matching_transact(spec("only", free=0))
    event = new_event(events_pb2.CaseSubmitted(diagnosis_code="C50.911", urgency=case_pb2.URGENCY_EXPEDITED,
                                               jurisdiction="US-CA", language="en"),
                      case_id="e1", tenant_id="t1", producer="intake")
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), _policy(expedited_ttl_seconds=4 * 3600)))
    until = transact.committed[-1].case_waiting.wait_until.ToDatetime(tzinfo=timezone.utc)
    assert until == FakeClock().now() + timedelta(hours=4)


def test_a_waiting_cases_next_try_grows_to_five_minutes_however_often_it_was_tried():
    waiting = Waiting(_facts_of(_submitted()), _submitted(), FakeClock().now())
    now = FakeClock().now()
    waits = [(dataclasses.replace(waiting, tries=t).next_try(now) - now).total_seconds() for t in (0, 1, 3, 5000)]
    assert waits == [30, 60, 240, 300]


def _facts_of(event):
    return usecases.case_facts(event)


async def test_records_added_while_a_case_waits_come_with_its_offer():
    transact, clock = matching_transact(spec("only", free=0)), FakeClock()
    await _match(transact, _submitted("c1"))
    added = new_event(events_pb2.DocumentsAdded(count=2), case_id="c1", tenant_id="t1", producer="intake")
    await transact(lambda uow: usecases.records_added(uow, added))
    transact.state.specialists["only"] = dataclasses.replace(transact.state.specialists["only"], free_slots=1)
    assert await _retry(transact, "c1", clock) is True
    [offered] = _offers(transact)
    assert offered.records == 2  # the reviewer's SLA clock starts with them


async def test_the_oldest_waiting_cases_come_first_expedited_ahead():
    transact, clock = matching_transact(spec("only", free=0)), FakeClock()
    for case_id, urgency in (("old", case_pb2.URGENCY_STANDARD), ("new", case_pb2.URGENCY_STANDARD),
                             ("urgent", case_pb2.URGENCY_EXPEDITED)):
        event = new_event(events_pb2.CaseSubmitted(diagnosis_code="C50.911", urgency=urgency, jurisdiction="US-CA",
                                                   language="en"), case_id=case_id, tenant_id="t1", producer="intake")
        await transact(lambda uow, e=event: usecases.match_case(uow, e, clock, _policy()))
        clock.advance(60)
    assert await transact(lambda uow: uow.directory.oldest_waiting(2)) == ["urgent", "old"]
    # A slot "only" freed goes to them in that order; one of a neurologist fits none.
    directory = Committed(transact, InMemoryDirectory)
    only, neuro = transact.state.specialists["only"], spec("neuro", specialties=(NEUROLOGY,))
    assert await usecases.waiting_for_freed(directory, [only, only], 2) == ["urgent", "old"]
    assert await usecases.waiting_for_freed(directory, [neuro], 2) == []


async def test_a_panel_waits_only_for_reviewers_of_distinct_organisations_nor_for_those_of_no_capacity():
    same_org = (Affiliation("harbor"),)
    transact = matching_transact(spec("h1", free=1, affiliations=same_org), spec("h2", free=0, affiliations=same_org),
                                 spec("h3", free=0, affiliations=same_org), specialist("zero", capacity=0, free=0))
    event = new_event(events_pb2.CaseSubmitted(diagnosis_code="C50.911", urgency=case_pb2.URGENCY_STANDARD,
                                               jurisdiction="US-CA", language="en", panel_requested=True),
                      case_id="p1", tenant_id="t1", producer="intake")
    await _match(transact, event)
    unmatched = transact.committed[-1]
    assert unmatched.type == "case.unmatched" and transact.state.waiting == {}  # no panel can ever come of them
    assert unmatched.case_unmatched.cause == events_pb2.UNMATCHED_CAUSE_PANEL_INCOMPLETE
    assert unmatched.case_unmatched.reason.endswith("; 2 more at capacity, of too few organisations")


async def test_a_waiting_case_whose_eligible_specialists_left_is_unmatched_at_once_with_the_reason():
    transact, clock = matching_transact(spec("only", free=0)), FakeClock()
    await _match(transact, _submitted("c1"))
    await transact(lambda uow: usecases.deactivate_specialist(uow, "only", clock.now()))
    assert await _retry(transact, "c1", clock) is True
    unmatched = transact.committed[-1].case_unmatched
    assert "1 excluded by active" in unmatched.reason


async def test_nobody_waits_for_capacity_when_the_limit_is_zero_or_nobody_would_be_eligible():
    transact = matching_transact(spec("only", free=0))
    await transact(lambda uow: usecases.match_case(uow, _submitted("c1"), FakeClock(), _policy(capacity_wait_seconds=0)))
    assert transact.committed[-1].type == "case.unmatched" and transact.state.waiting == {}
    transact = matching_transact(spec("only", free=0, languages=("fr",)))  # full, and would not do anyway
    await _match(transact, _submitted("c2"))
    assert transact.committed[-1].type == "case.unmatched" and transact.state.waiting == {}


async def test_a_withdrawn_waiting_case_waits_no_more_and_is_never_offered():
    transact, clock = matching_transact(spec("only", free=0)), FakeClock()
    await _match(transact, _submitted("c1"))
    withdrawn = new_event(events_pb2.CaseWithdrawn(reason=case_pb2.WITHDRAWAL_REASON_DUPLICATE), case_id="c1",
                          tenant_id="t1", producer="intake")
    await transact(lambda uow: usecases.withdraw_offers(uow, withdrawn))
    transact.state.specialists["only"] = dataclasses.replace(transact.state.specialists["only"], free_slots=1)
    assert transact.state.waiting == {} and await _retry(transact, "c1", clock) is True
    assert "specialist.offered" not in [e.type for e in transact.committed]


async def test_a_panel_waits_when_enough_eligible_reviewers_are_full_and_takes_no_seat_meanwhile():
    orgs = [("h1", "harbor"), ("l1", "lakeside"), ("s1", "summit")]
    transact = matching_transact(*(spec(sid, free=1 if sid != "s1" else 0, affiliations=(Affiliation(org),))
                                   for sid, org in orgs))
    event = new_event(events_pb2.CaseSubmitted(diagnosis_code="C50.911", urgency=case_pb2.URGENCY_STANDARD,
                                               jurisdiction="US-CA", language="en", panel_requested=True),
                      case_id="p1", tenant_id="t1", producer="intake")
    await _match(transact, event)
    assert transact.committed[-1].type == "case.waiting" and "panel of 3" in transact.committed[-1].case_waiting.reason
    assert [s.free_slots for s in transact.state.specialists.values()] == [1, 1, 0]  # the two seats given back
    transact.state.specialists["s1"] = dataclasses.replace(transact.state.specialists["s1"], free_slots=1)
    assert await _retry(transact, "p1", FakeClock()) is True
    assert sorted(o.specialist_id for o in _offers(transact)) == ["h1", "l1", "s1"]


async def test_an_opinion_gives_the_slot_back_once():
    transact = matching_transact(spec("s", free=2))
    await _match(transact, _submitted())
    offered = transact.committed[1].specialist_offered
    opinion = new_event(events_pb2.OpinionSubmitted(assignment_id=offered.assignment_id, specialist_id="s"),
                        case_id="c1", tenant_id="t1", producer="review")
    directory = Committed(transact, InMemoryDirectory)
    assert await usecases.release_capacity(directory, [opinion]) == [True]
    assert await usecases.release_capacity(directory, [opinion]) == [False]  # a repeat gives back nothing
    assert transact.state.specialists["s"].free_slots == 2


async def test_a_withdrawn_case_gives_its_offers_slot_back_once_and_tells_review_which_offers_went():
    transact = matching_transact(spec("s1", free=2))
    submitted = _submitted("c1")
    await _match(transact, submitted)
    await _match(transact, _submitted("c2"))  # another case's offer stays
    assert transact.state.specialists["s1"].free_slots == 0
    [offer_c1] = [o for o in transact.state.offers.values() if o.case_id == "c1"]
    withdrawn = new_event(events_pb2.CaseWithdrawn(reason=case_pb2.WITHDRAWAL_REASON_DUPLICATE), case_id="c1",
                          tenant_id="t1", producer="intake")
    for _ in range(2):  # a redelivered withdrawal gives nothing back twice
        await transact(lambda uow: usecases.withdraw_offers(uow, withdrawn))
    assert transact.state.specialists["s1"].free_slots == 1
    told = [e for e in transact.committed if e.type == "offers.withdrawn"]
    assert [list(e.offers_withdrawn.assignment_ids) for e in told] == [[offer_c1.assignment_id]] * 2
    assert told[0].causation_id == withdrawn.event_id
    # The case's submission published again after the withdrawal (a redrive) matches nothing.
    before = len(transact.committed)
    await _match(transact, submitted)
    assert len(transact.committed) == before and transact.state.specialists["s1"].free_slots == 1


async def test_explain_match_gives_the_decision_and_one_verdict_per_specialist():
    directory = [spec("best", free=2), spec("busy", free=1), spec("ny", licensed=("US-NY",)),
                 spec("neuro", specialties=(NEUROLOGY,))]
    transact = matching_transact(*directory)
    await _match(transact, _submitted("c1"))
    reader = Committed(transact, InMemoryDirectory)  # what is committed when it is asked
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(ttl_seconds=60))

    async def everyone():
        return list(transact.state.specialists.values())

    found = await usecases.explain_match(reader, everyone, "c1", policy, FakeClock().now().date(), frozenset({"t1"}))
    assert [o.specialist_id for o in found.decision.offers] == ["best"]
    assert found.decision.facts.diagnosis_code == "C50.911" and found.wanted[0] == "207RX0202X"
    verdicts = {v.specialist.specialist_id: v for v in found.verdicts}
    assert sorted(verdicts) == ["best", "busy", "neuro", "ny"]  # everyone, once
    assert verdicts["ny"].excluded_by.name == "licensed_in_jurisdiction"
    assert verdicts["neuro"].excluded_by.name == "covers_diagnosis"
    # Now: "best" holds one slot more than before the offer, and both are eligible, ranked.
    assert set(found.ranks) == {"best", "busy"} and sorted(found.ranks.values()) == [1, 2]

    # A case nobody could take keeps its reason; a case matching never saw is not found.
    await _match(transact, _submitted("c2", jurisdiction="US-TX"))
    unmatched = await usecases.explain_match(reader, everyone, "c2", policy, FakeClock().now().date(),
                                             frozenset({"t1"}))
    assert unmatched.decision.offers == () and "US-TX" in unmatched.decision.unmatched_reasons[0]
    # A case waiting for a free slot is explained too: everyone eligible is full.
    for specialist_id in ("best", "busy"):
        transact.state.specialists[specialist_id] = dataclasses.replace(transact.state.specialists[specialist_id],
                                                                        free_slots=0)
    await _match(transact, _submitted("c3"))
    waiting = await usecases.explain_match(reader, everyone, "c3", policy, FakeClock().now().date(), frozenset({"t1"}))
    assert waiting.decision.offers == () and waiting.ranks == {}
    assert waiting.decision.waiting_since == FakeClock().now() and found.decision.waiting_since is None
    assert {v.specialist.specialist_id for v in waiting.verdicts if v.excluded_by
            and v.excluded_by.name == "under_capacity"} == {"best", "busy"}
    for case_id, tenants in (("never", {"t1"}), ("c1", {"t2"})):  # unknown, or another tenant's: the same
        with pytest.raises(usecases.NotFound):
            await usecases.explain_match(reader, everyone, case_id, policy, FakeClock().now().date(),
                                         frozenset(tenants))


# --- the offer protocol -------------------------------------------------------------
def _answer(kind: str, offered, case_id="c1"):
    ids = {"assignment_id": offered.assignment_id, "specialist_id": offered.specialist_id}
    payload = (events_pb2.AssignmentDeclined(**ids, reason=case_pb2.DECLINE_REASON_NO_CAPACITY) if kind == "declined"
               else events_pb2.AssignmentExpired(**ids))
    return new_event(payload, case_id=case_id, tenant_id="t1", producer="review")


def _offers(transact):
    return [e.specialist_offered for e in transact.committed if e.type == "specialist.offered"]


async def _answered(transact, kind, offered, policy=None, case_id="c1"):
    policy = policy or usecases.MatchPolicy(reference.specialty_map(), OfferRules(ttl_seconds=60))
    await transact(lambda uow: usecases.offer_next(uow, _answer(kind, offered, case_id), FakeClock(), policy))


async def test_a_decline_gives_the_slot_back_and_offers_the_next_best_who_was_not_offered():
    transact = matching_transact(spec("a", free=2, quality=0.99), spec("b", free=2, quality=0.5))
    await _match(transact, _submitted())
    [first] = _offers(transact)
    assert first.specialist_id == "a" and transact.state.specialists["a"].free_slots == 1
    await _answered(transact, "declined", first)
    await _answered(transact, "declined", first)  # a repeat: nothing more
    [_, second] = _offers(transact)
    assert second.specialist_id == "b" and second.assignment_id != first.assignment_id
    assert transact.state.specialists["a"].free_slots == 2 and transact.state.specialists["b"].free_slots == 1
    assert transact.state.offers[first.assignment_id].state == "declined"
    # "a" is the best again (a free slot more than "b"), but was offered the case: never again.
    await _answered(transact, "expired", second)
    unmatched = transact.committed[-1]
    assert unmatched.type == "case.unmatched" and [o.specialist_id for o in _offers(transact)] == ["a", "b"]
    assert unmatched.case_unmatched.cause == events_pb2.UNMATCHED_CAUSE_NOBODY_ELIGIBLE
    assert unmatched.case_unmatched.offers_made == 2
    assert "who was not offered the case (2 were)" in unmatched.case_unmatched.reason
    assert transact.state.specialists["b"].free_slots == 2  # every slot back


async def test_after_a_decline_with_only_specialists_at_capacity_left_the_case_waits_for_one_of_them():
    # "a" declines c1; "b" could take it but is busy with c0: c1 waits for "b", not for "a".
    transact, clock = matching_transact(spec("a", free=2, quality=0.99), spec("b", free=1, quality=0.5)), FakeClock()
    await _match(transact, _submitted("c0"))
    await _match(transact, _submitted("c1"))
    c0_offer, c1_offer = _offers(transact)
    assert (c0_offer.specialist_id, c1_offer.specialist_id) == ("a", "a")
    await _answered(transact, "declined", c0_offer, case_id="c0")  # "b" takes c0: its last slot
    assert _offers(transact)[-1].specialist_id == "b" and transact.state.specialists["b"].free_slots == 0
    declined = _answer("declined", c1_offer)
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(ttl_seconds=60))
    await transact(lambda uow: usecases.offer_next(uow, declined, clock, policy))
    waiting = transact.committed[-1]
    assert waiting.type == "case.waiting" and waiting.case_id == "c1" and waiting.causation_id == declined.event_id
    assert waiting.case_waiting.eligible_at_capacity == 1  # "b": "a" has slots but was offered c1 before
    assert transact.state.unmatched == {} and transact.state.waiting["c1"][0].offered == ("a",)
    # Tried again with "a" free and "b" still busy: it waits on.
    assert await _retry(transact, "c1", clock, policy) is False
    # "b" signs c0's opinion: its slot comes free and c1 is offered to it, caused by the decline.
    b_offer = _offers(transact)[-1]
    opinion = new_event(events_pb2.OpinionSubmitted(assignment_id=b_offer.assignment_id, specialist_id="b"),
                        case_id="c0", tenant_id="t1", producer="review")
    await usecases.release_capacity(Committed(transact, InMemoryDirectory), [opinion])
    assert await _retry(transact, "c1", clock, policy) is True
    offered = transact.committed[-1]
    assert offered.type == "specialist.offered" and offered.case_id == "c1"
    assert offered.specialist_offered.specialist_id == "b" and offered.causation_id == declined.event_id
    assert transact.state.waiting == {}


async def test_a_case_waiting_after_a_decline_is_explained_and_unmatched_at_its_limit_counting_its_offers():
    transact, clock = matching_transact(spec("a", free=2, quality=0.99), spec("b", free=1, quality=0.5)), FakeClock()
    policy = _policy(ttl_seconds=60, capacity_wait_seconds=600)
    for case_id in ("c0", "c1"):
        await transact(lambda uow, c=case_id: usecases.match_case(uow, _submitted(c), clock, policy))
    c0_offer, c1_offer = _offers(transact)
    await transact(lambda uow: usecases.offer_next(uow, _answer("declined", c0_offer, "c0"), clock, policy))
    await transact(lambda uow: usecases.offer_next(uow, _answer("expired", c1_offer, "c1"), clock, policy))
    assert transact.committed[-1].type == "case.waiting"

    async def everyone():
        return list(transact.state.specialists.values())

    explained = await usecases.explain_match(Committed(transact, InMemoryDirectory), everyone, "c1", policy,
                                             clock.now().date(), frozenset({"t1"}))
    assert explained.decision.waiting_since == clock.now() and len(explained.decision.offers) == 1
    clock.advance(600)
    assert await _retry(transact, "c1", clock, policy) is True
    unmatched = transact.committed[-1]
    assert unmatched.type == "case.unmatched" and unmatched.case_unmatched.offers_made == 1
    assert unmatched.case_unmatched.cause == events_pb2.UNMATCHED_CAUSE_NO_CAPACITY


async def test_a_case_declined_by_everyone_eligible_goes_unmatched_at_once_not_waiting_for_them():
    # "b" is at capacity, but was offered the case before (and let it expire): nobody is left to wait for.
    transact = matching_transact(spec("a", free=1, quality=0.99), spec("b", free=1, quality=0.5))
    await _match(transact, _submitted("c1"))
    await _answered(transact, "declined", _offers(transact)[0])
    second = _offers(transact)[-1]
    assert second.specialist_id == "b"
    await _match(transact, _submitted("c9"))  # "a" (free again) takes c9: its only slot
    await _answered(transact, "expired", second)
    unmatched = transact.committed[-1]
    assert unmatched.type == "case.unmatched" and transact.state.waiting == {}
    assert unmatched.case_unmatched.cause == events_pb2.UNMATCHED_CAUSE_NOBODY_ELIGIBLE


async def test_after_the_attempt_limit_the_case_goes_unmatched_with_the_cause():
    transact = matching_transact(*(spec(f"s{i}") for i in range(5)))
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(max_attempts=2))
    await transact(lambda uow: usecases.match_case(uow, _submitted(), FakeClock(), policy))
    for _ in range(2):
        await _answered(transact, "expired", _offers(transact)[-1], policy)
    assert len(_offers(transact)) == 2  # three specialists never offered: the limit came first
    unmatched = transact.committed[-1].case_unmatched
    assert unmatched.cause == events_pb2.UNMATCHED_CAUSE_ATTEMPTS_EXHAUSTED
    assert unmatched.reason == "2 offers declined or expired: the limit is 2"


async def test_an_accepted_offer_has_no_deadline_and_a_passed_deadline_goes_to_review_once():
    transact = matching_transact(spec("a"), spec("b"))
    await _match(transact, _submitted("c1"), ttl=60)
    await _match(transact, _submitted("c2"), ttl=60)
    first, second = _offers(transact)
    accepted = new_event(events_pb2.AssignmentAccepted(assignment_id=first.assignment_id,
                                                         specialist_id=first.specialist_id),
                         case_id="c1", tenant_id="t1", producer="review")
    directory = Committed(transact, InMemoryDirectory)
    assert await usecases.offer_accepted(directory, accepted) is True
    assert await usecases.offer_accepted(directory, accepted) is False  # a repeat
    ids = [first.assignment_id, second.assignment_id]
    clock = FakeClock()
    await transact(lambda uow: usecases.offers_overdue(uow, ids, clock.now()))
    assert not [e for e in transact.committed if e.type == "offer.deadline_passed"]  # not due yet
    clock.advance(61)
    for _ in range(2):  # fired again (a restart, a retry): sent once
        await transact(lambda uow: usecases.offers_overdue(uow, ids, clock.now()))
    [passed] = [e for e in transact.committed if e.type == "offer.deadline_passed"]
    assert passed.case_id == "c2" and passed.offer_deadline_passed.assignment_id == second.assignment_id
    assert transact.state.offers[second.assignment_id].state == "expiring"
    # Review expires it: matching moves on (here: to the only other specialist).
    await _answered(transact, "expired", second, case_id="c2")
    assert _offers(transact)[-1].specialist_id == first.specialist_id != second.specialist_id


async def test_a_deactivated_specialists_open_offers_go_to_review_to_expire_and_their_cases_move_on():
    transact = matching_transact(specialist("a", capacity=9, free=9, quality=0.99), spec("b", quality=0.5))
    await _match(transact, _submitted("c1"))
    await _match(transact, _submitted("c2"))
    first, second = _offers(transact)
    assert first.specialist_id == second.specialist_id == "a"
    accepted = new_event(events_pb2.AssignmentAccepted(assignment_id=first.assignment_id, specialist_id="a"),
                         case_id="c1", tenant_id="t1", producer="review")
    assert await usecases.offer_accepted(Committed(transact, InMemoryDirectory), accepted)
    clock = FakeClock()
    await transact(lambda uow: usecases.deactivate_specialist(uow, "a", clock.now()))
    # Accepted work stays; the unanswered offer is sent to review as at its deadline.
    told = [e for e in transact.committed if e.type in ("specialist.changed", "offer.deadline_passed")]
    assert [e.type for e in told] == ["specialist.changed", "offer.deadline_passed"]
    assert told[1].case_id == "c2" and told[1].offer_deadline_passed.assignment_id == second.assignment_id
    assert transact.state.offers[second.assignment_id].state == "expiring"
    assert transact.state.offers[first.assignment_id].state == "accepted"
    count = len(transact.committed)
    await transact(lambda uow: usecases.deactivate_specialist(uow, "a", clock.now()))  # again: nothing more
    assert len(transact.committed) == count
    # Review expires it: the case goes to the next candidate, never back to "a".
    await _answered(transact, "expired", second, case_id="c2")
    last = [e for e in transact.committed if e.type == "specialist.offered"][-1]
    assert last.specialist_offered.specialist_id == "b" and last.case_id == "c2"


def _org(org_id):
    return (Affiliation(org_id),)


async def test_a_panel_is_offered_to_reviewers_of_distinct_organisations_and_a_seat_is_refilled_so():
    transact = matching_transact(spec("h1", affiliations=_org("harbor"), quality=0.99),
                                 spec("h2", affiliations=_org("harbor"), quality=0.98),
                                 spec("l1", affiliations=_org("lakeside"), quality=0.9),
                                 spec("s1", affiliations=_org("summit"), quality=0.8),
                                 spec("s2", affiliations=_org("summit"), quality=0.7))
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(panel_size=2))
    event = _submitted()
    event.case_submitted.panel_requested = True
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    assert [o.specialist_id for o in _offers(transact)] == ["h1", "l1"]  # h2 is harbor too
    await _answered(transact, "declined", _offers(transact)[1], policy)
    # lakeside's seat: not h2 (harbor holds a seat), but the best of another organisation.
    assert _offers(transact)[-1].specialist_id == "s1"
    await _answered(transact, "declined", _offers(transact)[0], policy)
    assert _offers(transact)[-1].specialist_id == "h2"  # harbor's seat is free again: h1 was offered


async def test_a_panel_short_of_organisations_is_unmatched_and_holds_no_slot():
    transact = matching_transact(spec("h1", affiliations=_org("harbor")), spec("h2", affiliations=_org("harbor")))
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(panel_size=2))
    event = _submitted()
    event.case_submitted.panel_requested = True
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    unmatched = transact.committed[-1].case_unmatched
    assert unmatched.cause == events_pb2.UNMATCHED_CAUSE_PANEL_INCOMPLETE
    assert unmatched.reason == "a panel of 2 needs reviewers from 2 distinct organisations; 1 eligible with a free slot"
    assert _offers(transact) == [] and transact.state.offers == {}
    assert {s.free_slots for s in transact.state.specialists.values()} == {2}


async def test_a_withdrawn_case_closes_its_unanswered_offers_and_a_late_decline_offers_nothing():
    transact = matching_transact(spec("a"), spec("b"))
    await _match(transact, _submitted())
    [first] = _offers(transact)
    withdrawn = new_event(events_pb2.CaseWithdrawn(reason=case_pb2.WITHDRAWAL_REASON_DUPLICATE), case_id="c1",
                          tenant_id="t1", producer="intake")
    await transact(lambda uow: usecases.withdraw_offers(uow, withdrawn))
    assert transact.state.offers[first.assignment_id].state == "withdrawn"
    assert transact.state.specialists[first.specialist_id].free_slots == 2  # the withdrawal gave it back
    await _answered(transact, "declined", first)
    assert len(_offers(transact)) == 1 and transact.committed[-1].type == "offers.withdrawn"
    assert transact.state.specialists[first.specialist_id].free_slots == 2  # not twice


def _panel_of_two(transact):
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(panel_size=2))
    event = _submitted()
    event.case_submitted.panel_requested = True
    return policy, event


async def test_a_panel_that_loses_a_seat_nobody_can_fill_before_anyone_accepted_is_unmatched_whole():
    transact = matching_transact(spec("h1", affiliations=_org("harbor")), spec("l1", affiliations=_org("lakeside")))
    policy, event = _panel_of_two(transact)
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    h1, l1 = _offers(transact)
    await _answered(transact, "declined", l1, policy)
    withdrawn, unmatched = transact.committed[-2:]
    assert list(withdrawn.offers_withdrawn.assignment_ids) == [h1.assignment_id]  # review withdraws h1's offer
    assert unmatched.case_unmatched.cause == events_pb2.UNMATCHED_CAUSE_PANEL_INCOMPLETE
    assert unmatched.case_unmatched.reason.endswith("; 1 eligible with a free slot")
    assert {s.free_slots for s in transact.state.specialists.values()} == {2}  # every slot back
    assert {o.state for o in transact.state.offers.values()} == {"declined", "withdrawn"}


async def test_a_panel_one_reviewer_accepted_goes_on_short_of_a_seat_nobody_can_fill():
    transact = matching_transact(spec("h1", affiliations=_org("harbor")), spec("l1", affiliations=_org("lakeside")))
    policy, event = _panel_of_two(transact)
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    h1, l1 = _offers(transact)
    accepted = new_event(events_pb2.AssignmentAccepted(assignment_id=h1.assignment_id, specialist_id="h1"),
                         case_id="c1", tenant_id="t1", producer="review")
    assert await usecases.offer_accepted(Committed(transact, InMemoryDirectory), accepted)
    before = len(transact.committed)
    await _answered(transact, "declined", l1, policy)
    assert len(transact.committed) == before  # no unmatched, nothing withdrawn: h1 reviews it
    assert transact.state.offers[h1.assignment_id].state == "accepted"



def _signed(offer, diagnosis, treatment, case_id="c1", code=""):
    """A panel member's signed opinion, as review sends it."""
    opinion = events_pb2.OpinionSubmitted(assignment_id=offer.assignment_id, specialist_id=offer.specialist_id,
                                          opinion_id=f"op-{offer.specialist_id}", diagnosis=diagnosis,
                                          treatment=treatment, reviewer_diagnosis_code=code)
    return new_event(events_pb2.PanelOpinionSigned(opinion=opinion, panel_size=2), case_id=case_id, tenant_id="t1",
                     producer="review")


CONFIRMED, REFINED = case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, case_pb2.DIAGNOSIS_CONCORDANCE_REFINED
AGREE = case_pb2.TREATMENT_CONCORDANCE_AGREE


async def _panel_signed(transact, policy, *conclusions):
    members = _offers(transact)[:2]
    for offer, (diagnosis, treatment) in zip(members, conclusions, strict=True):
        signed = _signed(offer, diagnosis, treatment)
        await transact(lambda uow, e=signed: usecases.panel_opinion(uow, e, FakeClock(), policy))
    return members


def _panel_directory():
    return matching_transact(spec("h1", affiliations=_org("harbor"), quality=0.99),
                             spec("l1", affiliations=_org("lakeside"), quality=0.9),
                             spec("h2", affiliations=_org("harbor"), quality=0.8),
                             spec("s1", affiliations=_org("summit"), quality=0.7),
                             spec("t1", affiliations=_org("tarn"), quality=0.6))


async def test_a_panel_that_agrees_is_concluded_once_every_seat_signed():
    transact = _panel_directory()
    policy, event = _panel_of_two(transact)
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    h1, l1 = _offers(transact)
    await transact(lambda uow: usecases.panel_opinion(uow, _signed(h1, REFINED, AGREE), FakeClock(), policy))
    assert transact.committed[-1].type == "specialist.offered"  # nothing yet: one seat has not signed
    assert transact.state.specialists["h1"].free_slots == 2  # its slot is given back at once
    await transact(lambda uow: usecases.panel_opinion(uow, _signed(l1, REFINED, AGREE), FakeClock(), policy))
    concluded = transact.committed[-1].panel_concluded
    assert concluded.outcome == events_pb2.PANEL_OUTCOME_AGREED
    assert sorted(concluded.opinion_ids) == ["op-h1", "op-l1"] and concluded.agreed.diagnosis == REFINED
    count = len(transact.committed)
    await transact(lambda uow: usecases.panel_opinion(uow, _signed(l1, REFINED, AGREE), FakeClock(), policy))
    assert len(transact.committed) == count  # a repeat concludes nothing again


async def test_a_panel_that_disagrees_goes_to_an_adjudicator_of_another_organisation_then_the_next():
    transact = _panel_directory()
    policy, event = _panel_of_two(transact)
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    await _panel_signed(transact, policy, (CONFIRMED, AGREE), (REFINED, AGREE))
    offered = transact.committed[-1].specialist_offered
    # h2 shares harbor with a member: the best of another organisation adjudicates.
    assert offered.adjudicates and offered.specialist_id == "s1"
    assert sorted(offered.panel_opinion_ids) == ["op-h1", "op-l1"] and offered.panel_size == 2
    adjudicator = _offers(transact)[-1]
    assert transact.state.offers[adjudicator.assignment_id].role == "adjudicator"
    await _answered(transact, "declined", adjudicator, policy)
    again = transact.committed[-1].specialist_offered
    assert again.adjudicates and again.specialist_id == "t1"  # the next, and no seat of the panel refilled
    await _answered(transact, "declined", _offers(transact)[-1], policy)
    concluded = transact.committed[-1].panel_concluded  # nobody left to adjudicate: the members' views stand
    assert concluded.outcome == events_pb2.PANEL_OUTCOME_DISAGREED and len(concluded.opinion_ids) == 2



async def test_a_tenants_setting_makes_every_case_of_it_blind():
    transact = matching_transact(spec("a"))
    policy = usecases.MatchPolicy(reference.specialty_map(), blind_review_tenants=frozenset({"t1"}))
    event = _submitted()
    assert not event.case_submitted.blind_review_requested
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    assert _offers(transact)[-1].blind_review  # t1's setting: the reviewer assesses blind
    assert not usecases.case_facts(event).blind_review_requested  # another tenant's policy: as the case asks



async def test_members_who_refine_the_diagnosis_to_different_codes_disagree():
    transact = _panel_directory()
    policy, event = _panel_of_two(transact)
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    h1, l1 = _offers(transact)
    for offer, code in ((h1, "C34.11"), (l1, "C34.12")):
        signed = _signed(offer, REFINED, AGREE, code=code)
        await transact(lambda uow, e=signed: usecases.panel_opinion(uow, e, FakeClock(), policy))
    assert transact.committed[-1].specialist_offered.adjudicates  # not AGREED: an adjudicator is offered


async def test_a_panel_gone_short_to_one_reviewer_concludes_on_theirs():
    transact = matching_transact(spec("h1", affiliations=_org("harbor")), spec("l1", affiliations=_org("lakeside")))
    policy, event = _panel_of_two(transact)
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))
    h1, l1 = _offers(transact)
    signed = _signed(h1, REFINED, AGREE, code="C50.912")
    await transact(lambda uow: usecases.panel_opinion(uow, signed, FakeClock(), policy))
    await _answered(transact, "declined", l1, policy)  # nobody else to take the seat
    concluded = transact.committed[-1].panel_concluded
    assert concluded.outcome == events_pb2.PANEL_OUTCOME_ALONE and list(concluded.opinion_ids) == ["op-h1"]
    assert concluded.agreed.reviewer_diagnosis_code == "C50.912"


def _prior_auth(case_id="pa1", services=(("CPT", "27447"),), code="M17.11"):
    submitted = events_pb2.CaseSubmitted(
        diagnosis_code=code, urgency=case_pb2.URGENCY_EXPEDITED, jurisdiction="US-CA", language="en",
        kind=case_pb2.CASE_KIND_PRIOR_AUTH,
        requested_services=[case_pb2.RequestedService(key=str(n), sequence=n, system=system, code=c, quantity=1)
                            for n, (system, c) in enumerate(services, start=1)])
    return new_event(submitted, case_id=case_id, tenant_id="payer", producer="intake")


async def _match_prior_auth(transact, event):
    policy = usecases.MatchPolicy(reference.specialty_map(), OfferRules(ttl_seconds=60),
                                  service_map=reference.service_map())
    await transact(lambda uow: usecases.match_case(uow, event, FakeClock(), policy))


PRIOR_AUTH_KINDS = frozenset({case_pb2.CASE_KIND_SECOND_OPINION, case_pb2.CASE_KIND_PRIOR_AUTH})


async def test_a_prior_authorization_is_offered_to_a_reviewer_qualified_for_the_service_only():
    # The oncologist is better on every score but may not decide a knee replacement.
    transact = matching_transact(
        spec("oncologist", quality=1.0, case_kinds=PRIOR_AUTH_KINDS),
        spec("orthopaedist", specialties=("207X00000X",), quality=0.1, case_kinds=PRIOR_AUTH_KINDS),
        spec("orthopaedist-second-opinions-only", specialties=("207X00000X",), quality=1.0))
    submitted = _prior_auth()
    await _match_prior_auth(transact, submitted)
    offered = [e.specialist_offered for e in transact.committed if e.type == "specialist.offered"]
    assert [o.specialist_id for o in offered] == ["orthopaedist"] and offered[0].specialty == "207X00000X"
    assert transact.state.facts["pa1"].services == (("CPT", "27447"),)
    # Review learns the items to decide, who may deny or modify each, and when the request came.
    [item] = offered[0].requested_services
    assert (item.key, item.system, item.code) == ("1", "CPT", "27447")
    assert "207X00000X" in item.qualified_specialties and "207RX0202X" not in item.qualified_specialties
    assert offered[0].kind == case_pb2.CASE_KIND_PRIOR_AUTH
    assert offered[0].received_at == submitted.occurred_at


async def test_a_prior_authorization_nobody_may_decide_whole_is_unmatched_saying_why():
    transact = matching_transact(spec("orthopaedist", specialties=("207X00000X",), case_kinds=PRIOR_AUTH_KINDS))
    await _match_prior_auth(transact, _prior_auth(services=(("CPT", "27447"), ("CPT", "33533"))))
    assert [e.type for e in transact.committed] == ["matching.started", "case.unmatched"]
    assert "no one specialty may decide every requested service (27447, 33533)" in \
        transact.committed[1].case_unmatched.reason


async def test_an_x12_service_type_is_decided_by_the_diagnosis_specialty():
    transact = matching_transact(spec("oncologist", case_kinds=PRIOR_AUTH_KINDS),
                                 spec("orthopaedist", specialties=("207X00000X",), case_kinds=PRIOR_AUTH_KINDS))
    await _match_prior_auth(transact, _prior_auth(services=(("X12-1365", "3"),), code="C50.911"))
    [offered] = [e.specialist_offered for e in transact.committed if e.type == "specialist.offered"]
    assert offered.specialist_id == "oncologist"

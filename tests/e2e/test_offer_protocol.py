"""Acceptance (issue 9, the offer protocol), over the real broker and store: a
decline moves the case to the next candidate and the attempt limit ends in
UNMATCHED with the reason on the timeline; an offer's deadline passes while
matching is killed, and after the restart the case goes to the next candidate;
a panel case is offered to reviewers of distinct organisations.

One stack for the module, with short clocks: an expedited offer expires after
a few seconds, and two failed offers end a case."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import grpc
import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from secondlook.auth import mint_token
from secondlook.v1 import case_pb2, intake_pb2, matching_pb2, matching_pb2_grpc, review_pb2
from tests.conftest import Pending, eventually
from tests.e2e.conftest import start_stack
from tests.e2e.specialists import case_for, list_specialists

pytestmark = pytest.mark.e2e

EXPEDITED_TTL = 6


@pytest.fixture(scope="module")
def offer_stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("offers"), overrides={
        "SECONDLOOK_MATCHING_OFFER_TTL_EXPEDITED_SECONDS": str(EXPEDITED_TTL),
        "SECONDLOOK_MATCHING_OFFER_MAX_ATTEMPTS": "2",
    })
    yield stack
    stack.stop()


async def _submit(intake, authed, key: str, place: str, *, urgency=case_pb2.URGENCY_STANDARD, panel=False) -> str:
    request = case_for(key, place, urgency=urgency, panel_requested=panel)
    return (await intake.SubmitCase(request, metadata=authed.metadata, timeout=10)).case_id


async def _case(intake, authed, case_id: str, done) -> intake_pb2.Case:
    async def reached():
        try:
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=authed.metadata,
                                        timeout=10)
        except grpc.aio.AioRpcError as exc:
            return Pending(exc.code().name)
        return case if done(case) else Pending((case_pb2.CaseStatus.Name(case.status), case.specialist_id,
                                                [e.event_type for e in case.timeline]))

    return await eventually(reached, 60, f"case {case_id} to move on")


def _offered_to(specialist_id: str):
    return lambda case: case.status == case_pb2.CASE_STATUS_OFFERED and case.specialist_id == specialist_id


async def _assignment(stack, settings, specialist_id: str, case_id: str) -> review_pb2.Assignment:
    inbox, authed = clients.reviewer(settings, stack.target("review"), specialist_id)
    try:
        async def offered():
            found = await inbox.ListAssignments(review_pb2.ListAssignmentsRequest(), metadata=authed.metadata)
            return next((a for a in found.assignments if a.case_id == case_id), None)

        return await eventually(offered, 30, f"{specialist_id}'s assignment for {case_id}")
    finally:
        await authed.close()


async def _decline(stack, settings, specialist_id: str, assignment_id: str, reason: int) -> review_pb2.Assignment:
    inbox, authed = clients.reviewer(settings, stack.target("review"), specialist_id)
    try:
        return await inbox.DeclineAssignment(review_pb2.DeclineAssignmentRequest(
            assignment_id=assignment_id, reason=reason, note="On leave (synthetic)."), metadata=authed.metadata)
    finally:
        await authed.close()


async def test_a_decline_moves_the_case_to_the_next_candidate_until_the_attempt_limit(offer_stack):
    stack, settings = offer_stack, offer_stack.settings()
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, authed = clients.submitter(settings, stack.target("intake"), "decline-tenant")
    try:
        await list_specialists(directory, admin, "US-ND", ("nd-best", 1.0, ""), ("nd-next", 0.7, ""), ("nd-third", 0.4, ""))
        case_id = await _submit(intake, authed, "decline", "US-ND")
        await _case(intake, authed, case_id, _offered_to("nd-best"))
        first = await _assignment(stack, settings, "nd-best", case_id)

        # A decline without a reason is refused, naming the field; nothing changes.
        inbox, reviewer = clients.reviewer(settings, stack.target("review"), "nd-best")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await inbox.DeclineAssignment(review_pb2.DeclineAssignmentRequest(assignment_id=first.assignment_id),
                                          metadata=reviewer.metadata)
        await reviewer.close()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in refused.value.details()

        declined = await _decline(stack, settings, "nd-best", first.assignment_id,
                                  case_pb2.DECLINE_REASON_NO_CAPACITY)
        assert declined.state == review_pb2.ASSIGNMENT_STATE_DECLINED
        assert declined.decline_reason == case_pb2.DECLINE_REASON_NO_CAPACITY
        case = await _case(intake, authed, case_id, _offered_to("nd-next"))
        entry = next(e for e in case.timeline if e.event_type == "assignment.declined")
        assert "declined (no capacity)" in entry.detail

        second = await _assignment(stack, settings, "nd-next", case_id)
        await _decline(stack, settings, "nd-next", second.assignment_id, case_pb2.DECLINE_REASON_OUTSIDE_EXPERTISE)
        # Two failed offers is this stack's limit: nd-third is never offered the case.
        case = await _case(intake, authed, case_id, lambda c: c.status == case_pb2.CASE_STATUS_UNMATCHED)
        why = next(e for e in case.timeline if e.event_type == "case.unmatched")
        assert why.detail == "2 offers declined or expired: the limit is 2"
        assert case.specialist_id == ""  # who declined no longer has it: an unmatched case names nobody
        # Each note a reviewer wrote is in review's access audit (the refused decline wrote nothing).
        mongo = AsyncMongoClient(stack.mongo_uri)
        try:
            records = await mongo["secondlook_review"]["audit"].find({"case_id": case_id}).sort("seq", 1).to_list()
        finally:
            await mongo.close()
        assert [(r["method"], r["fields"], r["subject"].split(" as ")[0]) for r in records] == [
            ("DeclineAssignment", ["decline_note"], "nd-best"), ("DeclineAssignment", ["decline_note"], "nd-next")]
    finally:
        await admin.close()
        await authed.close()


async def test_a_case_nobody_free_can_take_waits_and_is_offered_once_a_slot_comes_free(offer_stack):
    stack, settings = offer_stack, offer_stack.settings()
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, authed = clients.submitter(settings, stack.target("intake"), "waiting-tenant")
    try:
        await list_specialists(directory, admin, "US-VT", ("vt-solo", 1.0, ""))  # 3 slots, the only one in VT
        first = [await _submit(intake, authed, f"full-{i}", "US-VT") for i in range(3)]
        for case_id in first:
            await _case(intake, authed, case_id, _offered_to("vt-solo"))
        waiting_id = await _submit(intake, authed, "waits", "US-VT")
        waiting = await _case(intake, authed, waiting_id, lambda c: c.timeline[-1].event_type == "case.waiting")
        assert waiting.status == case_pb2.CASE_STATUS_MATCHING
        assert waiting.timeline[-1].detail.startswith("1 eligible specialist is at capacity: the case waits for a "
                                                      "free slot; offered as soon as slots come free, else unmatched at ")
        # Operations ask why: the case waits, since when and until when; its one specialist is full.
        operator = clients.Authed(stack.target("matching"), mint_token(
            settings, subject="ops@example.org", tenant="secondlook-operations", roles=["operator"],
            tenants=["waiting-tenant"]))
        try:
            why = await matching_pb2_grpc.MatchingServiceStub(operator.channel).ExplainMatch(
                matching_pb2.ExplainMatchRequest(case_id=waiting_id, page_size=1000), metadata=operator.metadata)
        finally:
            await operator.close()
        since, until = datetime.fromisoformat(why.waiting_since), datetime.fromisoformat(why.wait_until)
        assert (until - since).total_seconds() == 86400 and not why.offers and why.eligible == 0
        assert {v.specialist_id: v.excluded_by for v in why.verdicts}["vt-solo"] == "under_capacity"
        # A slot comes free (the reviewer declines one of the three): the waiting case gets it.
        assignment = await _assignment(stack, settings, "vt-solo", first[0])
        await _decline(stack, settings, "vt-solo", assignment.assignment_id, case_pb2.DECLINE_REASON_NO_CAPACITY)
        offered = await _case(intake, authed, waiting_id, _offered_to("vt-solo"))
        assert [e.event_type for e in offered.timeline][-2:] == ["case.waiting", "specialist.offered"]
        # The declined case had nobody else: it goes unmatched, saying so.
        await _case(intake, authed, first[0], lambda c: c.status == case_pb2.CASE_STATUS_UNMATCHED)
    finally:
        await admin.close()
        await authed.close()


async def test_an_offer_expires_while_matching_is_down_and_moves_on_after_the_restart(offer_stack):
    stack, settings = offer_stack, offer_stack.settings()
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, authed = clients.submitter(settings, stack.target("intake"), "expiry-tenant")
    try:
        await list_specialists(directory, admin, "US-SD", ("sd-best", 1.0, ""), ("sd-next", 0.6, ""))
        await admin.close()
        case_id = await _submit(intake, authed, "expiry", "US-SD", urgency=case_pb2.URGENCY_EXPEDITED)
        await _case(intake, authed, case_id, _offered_to("sd-best"))
        first = await _assignment(stack, settings, "sd-best", case_id)
        respond_by = first.respond_by.ToDatetime(tzinfo=timezone.utc)
        ttl = (respond_by - first.offered_at.ToDatetime(tzinfo=timezone.utc)).total_seconds()
        assert ttl == pytest.approx(EXPEDITED_TTL, abs=1)  # the expedited clock, not the standard day

        stack.services["matching"].kill()  # SIGKILL: its deadline in memory is gone with it
        await eventually(lambda: _now_past(respond_by), EXPEDITED_TTL + 30, "the offer's deadline to pass")
        stack.start_service("matching")
        await asyncio.to_thread(stack.wait_serving, "matching")

        case = await _case(intake, authed, case_id, _offered_to("sd-next"))
        assert "assignment.expired" in [e.event_type for e in case.timeline]
        expired = await _assignment(stack, settings, "sd-best", case_id)
        assert expired.state == review_pb2.ASSIGNMENT_STATE_EXPIRED
        # Too late to accept: the reviewer is told why.
        inbox, reviewer = clients.reviewer(settings, stack.target("review"), "sd-best")
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await inbox.AcceptAssignment(review_pb2.AssignmentRequest(assignment_id=first.assignment_id),
                                         metadata=reviewer.metadata)
        await reviewer.close()
        assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "EXPIRED" in late.value.details()
    finally:
        await authed.close()


async def _now_past(moment: datetime) -> bool:
    return datetime.now(timezone.utc) > moment


async def test_a_panel_case_is_offered_to_reviewers_of_distinct_organisations(offer_stack):
    stack, settings = offer_stack, offer_stack.settings()
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, authed = clients.submitter(settings, stack.target("intake"), "panel-tenant")
    operator = clients.Authed(stack.target("matching"), mint_token(
        settings, subject="ops@example.org", tenant="secondlook-operations", roles=["operator"],
        tenants=["panel-tenant"]))
    try:
        await list_specialists(directory, admin, "US-MT", ("mt-alpha-1", 1.0, "org-alpha"), ("mt-alpha-2", 0.95, "org-alpha"),
                    ("mt-beta", 0.8, "org-beta"), ("mt-solo", 0.3, ""))
        case_id = await _submit(intake, authed, "panel", "US-MT", panel=True)
        await _case(intake, authed, case_id, lambda c: c.status == case_pb2.CASE_STATUS_OFFERED)
        explain = matching_pb2_grpc.MatchingServiceStub(operator.channel).ExplainMatch

        async def three_offers():
            why = await explain(matching_pb2.ExplainMatchRequest(case_id=case_id), metadata=operator.metadata)
            return why if len(why.offers) == 3 else Pending(len(why.offers))

        why = await eventually(three_offers, 30, "the panel's three offers")
        # mt-alpha-2 ranks second but shares org-alpha with mt-alpha-1: the third seat goes further down.
        assert sorted(o.specialist_id for o in why.offers) == ["mt-alpha-1", "mt-beta", "mt-solo"]
        for sid in ("mt-alpha-1", "mt-beta", "mt-solo"):
            assert (await _assignment(stack, settings, sid, case_id)).state == review_pb2.ASSIGNMENT_STATE_OFFERED
    finally:
        await operator.close()
        await admin.close()
        await authed.close()


async def test_a_panel_that_disagrees_is_adjudicated_and_the_final_opinion_names_every_members_view(offer_stack):
    stack, settings = offer_stack, offer_stack.settings()
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, authed = clients.submitter(settings, stack.target("intake"), "adjudication-tenant")
    members = {"wy-a": (case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, case_pb2.TREATMENT_CONCORDANCE_AGREE),
               "wy-b": (case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, case_pb2.TREATMENT_CONCORDANCE_AGREE),
               "wy-c": (case_pb2.DIAGNOSIS_CONCORDANCE_DIFFERENT, case_pb2.TREATMENT_CONCORDANCE_ALTERNATIVE_RECOMMENDED)}
    reviewers = {sid: clients.reviewer(settings, stack.target("review"), sid) for sid in [*members, "wy-d"]}
    try:
        await list_specialists(directory, admin, "US-WY", ("wy-a", 1.0, "org-a"), ("wy-b", 0.9, "org-b"),
                    ("wy-c", 0.8, "org-c"), ("wy-d", 0.5, "org-d"))
        case_id = await _submit(intake, authed, "adjudicated", "US-WY", panel=True)
        seats = {sid: await _assignment(stack, settings, sid, case_id) for sid in members}
        assert {a.panel_size for a in seats.values()} == {3}
        for n, (sid, (diagnosis, treatment)) in enumerate(members.items()):
            stub, auth = reviewers[sid]
            req = review_pb2.AssignmentRequest(assignment_id=seats[sid].assignment_id)
            await stub.AcceptAssignment(req, metadata=auth.metadata)
            await stub.StartReview(req, metadata=auth.metadata)
            before = await stub.GetAssignment(req, metadata=auth.metadata)
            assert not before.panel_opinions  # nobody's view before one's own: each reviews independently
            await stub.SubmitOpinion(review_pb2.SubmitOpinionRequest(
                assignment_id=seats[sid].assignment_id, opinion=clients.opinion(
                    diagnosis=diagnosis, treatment=treatment, confidence=70,
                    reviewer_diagnosis_code="Q21.0" if diagnosis == case_pb2.DIAGNOSIS_CONCORDANCE_DIFFERENT else "",
                    recommendation=f"View of {sid}.")), metadata=auth.metadata)
            after = await stub.GetAssignment(req, metadata=auth.metadata)
            assert len(after.panel_opinions) == n  # the others who signed before
        case = await _case(intake, authed, case_id, lambda c: any(
            e.event_type == "specialist.offered" and "adjudicator" in e.detail for e in c.timeline))
        assert case.status == case_pb2.CASE_STATUS_IN_REVIEW  # three opinions, none of them the case's yet
        assert sum(e.event_type == "panel.opinion_signed" for e in case.timeline) == 3

        adjudicator = await _assignment(stack, settings, "wy-d", case_id)  # org-d: none of the members'
        assert adjudicator.adjudicates
        stub, auth = reviewers["wy-d"]
        req = review_pb2.AssignmentRequest(assignment_id=adjudicator.assignment_id)
        await stub.AcceptAssignment(req, metadata=auth.metadata)
        weighed = await stub.GetAssignment(req, metadata=auth.metadata)
        assert sorted(m.specialist_id for m in weighed.panel_opinions) == sorted(members)
        assert {m.opinion.opinion.recommendation for m in weighed.panel_opinions} == {f"View of {s}." for s in members}
        await stub.StartReview(req, metadata=auth.metadata)
        await stub.SubmitOpinion(review_pb2.SubmitOpinionRequest(
            assignment_id=adjudicator.assignment_id, opinion=clients.opinion(
                diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE,
                confidence=80)), metadata=auth.metadata)
        final = await _case(intake, authed, case_id, lambda c: c.status in (
            case_pb2.CASE_STATUS_OPINION_READY, case_pb2.CASE_STATUS_DELIVERED))
        [opinion] = [e for e in final.timeline if e.event_type == "opinion.submitted"]
        assert opinion.detail == "the panel's opinion (adjudicated, 3 members' views)"
    finally:
        for _, auth in reviewers.values():
            await auth.close()
        await admin.close()
        await authed.close()

"""intake's use cases with in-memory fakes: no broker, no store."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest

from devstack import clients
from secondlook.auth import Principal
from secondlook.clock import FakeClock
from secondlook.consumer import PermanentError
from secondlook.errors import InvalidInput
from secondlook.events import caused_by, new_event
from secondlook.feed import Feed
from secondlook.v1 import case_pb2, events_pb2, intake_pb2
from secondlook.v1.intake_pb2 import SubmitCaseRequest
from services.intake import usecases
from services.intake.domain import case as domain_case
from services.intake.domain.case import ClosedToDocuments, NotAskable, NotWithdrawable
from services.intake.domain.lifecycle import REDRIVE_REPUBLISH, statuses_along
from services.intake.domain.listing import parse_query
from services.intake.messages import age_on, case_message, review_message
from tests.fakes.intake import InMemoryCaseReader, InMemoryCases, RecordedAccesses, intake_transact
from tests.fakes.transact import Committed

S = case_pb2.CaseStatus
STUCK_AFTER = 30.0


def _request(key="req-1", **changes):
    req = clients.sample_cases()[0]
    req.client_request_id = key
    req.consent.granted_at.FromDatetime(FakeClock().now() - timedelta(days=1))
    for name, value in changes.items():
        setattr(req, name, value)
    return req


def _principal(tenant="t1", subject="coordinator"):
    return Principal(subject=subject, tenant=tenant, roles=frozenset({"submitter"}))


async def _submit(transact, clock, req=None, tenant="t1", audit=None):
    return await usecases.submit_case(transact, InMemoryCaseReader(transact), audit or RecordedAccesses(), clock,
                                      req or _request(), principal=_principal(tenant), traceparent="",
                                      stuck_after=STUCK_AFTER)


async def test_writing_and_reading_a_cases_phi_is_recorded_but_a_refused_read_is_not():
    transact, clock, audit = intake_transact(), FakeClock(), RecordedAccesses()
    case, _ = await _submit(transact, clock, audit=audit)
    await _submit(transact, clock, audit=audit)  # a repeat returns ids only: nothing read
    clock.advance(5)
    reader = InMemoryCaseReader(transact)
    assert await usecases.get_case(reader, audit, clock, _principal(subject="auditor"), case.case_id) is not None
    assert await usecases.get_case(reader, audit, clock, _principal("t2"), case.case_id) is None
    assert await usecases.get_case(reader, audit, clock, _principal(), "no-such-case") is None
    assert [(a.method, a.subject, a.tenant_id, a.case_id) for a in audit.accesses] == [
        ("SubmitCase", "coordinator", "t1", case.case_id), ("GetCase", "auditor", "t1", case.case_id)]
    assert audit.accesses[1].at == clock.now() and "patient" in audit.accesses[1].fields
    # The parts the case holds, no more: a second opinion's consent, nothing of a withdrawal or a decision.
    assert audit.accesses[1].fields == ("patient", "diagnoses", "first_opinion", "clinical_question",
                                        "attachments", "consent")
    # A repeat whose first attempt committed but failed to record the write records it, whole.
    forgotten = RecordedAccesses()
    await _submit(transact, clock, audit=forgotten)
    assert [(a.method, a.fields) for a in forgotten.accesses] == [("SubmitCase", audit.accesses[0].fields)]
    assert audit.accesses[0].fields[:2] == ("patient", "diagnoses")


async def test_a_valid_submission_is_stored_with_its_event_and_no_phi_in_the_event():
    transact, clock = intake_transact(), FakeClock()
    case, created = await _submit(transact, clock)
    assert created and case.status == S.CASE_STATUS_SUBMITTED
    [event] = transact.committed
    assert event.type == "case.submitted" and event.case_id == case.case_id
    facts = event.case_submitted
    assert facts.diagnosis_code == case.diagnosis_code
    assert list(facts.secondary_diagnosis_codes) == ["Z80.3"]
    assert facts.kind == case_pb2.CASE_KIND_SECOND_OPINION and facts.panel_requested and facts.blind_review_requested
    content = case.content
    assert facts.first_opinion_physician_npi == content.first_opinion.physician_npi
    assert facts.first_opinion_organization == content.first_opinion.organization_name
    p, f = content.patient, content.first_opinion
    phi = (p.given_name, p.family_name, p.birth_date, p.email, p.phone, *(v for _, v in p.mrns),
           content.diagnosis_text,
           content.secondary_diagnoses[0].text, f.physician_family_name, f.treatment_text, f.rationale,
           content.clinical_question, *(a.uri for a in content.attachments),
           *(a.title for a in content.attachments))
    assert all(phi) and len(phi) > 12
    for value in phi:
        assert value.encode() not in event.SerializeToString()
    assert case.next_redrive_at == clock.now() + timedelta(seconds=STUCK_AFTER)


async def test_the_same_key_returns_the_same_case_and_a_different_body_is_refused():
    transact, clock = intake_transact(), FakeClock()
    first, _ = await _submit(transact, clock)
    again, created = await _submit(transact, clock)
    assert (again.case_id, created) == (first.case_id, False)
    with pytest.raises(usecases.KeyReused):
        await _submit(transact, clock, _request(clinical_question="something else"))
    other_tenant, created = await _submit(transact, clock, tenant="t2")  # keys are per tenant
    assert created and other_tenant.case_id != first.case_id
    assert len(transact.state.cases) == 2 and len(transact.committed) == 2
    assert first.request_sha256.startswith("keyed:")  # what the case keeps is the adapter's keyed digest


async def test_a_case_from_before_the_digest_was_keyed_is_still_known_by_its_content():
    transact, clock = intake_transact(), FakeClock()
    first, _ = await _submit(transact, clock)
    plain = first.request_sha256.removeprefix("keyed:")  # as a case from before kept it
    transact.state.cases[first.case_id] = dataclasses.replace(transact.state.cases[first.case_id],
                                                              request_sha256=plain)
    again, created = await _submit(transact, clock)
    assert (again.case_id, created) == (first.case_id, False)
    with pytest.raises(usecases.KeyReused):
        await _submit(transact, clock, _request(clinical_question="something else"))


async def test_a_repeat_spelled_otherwise_is_the_same_request_a_real_change_is_not():
    transact, clock = intake_transact(), FakeClock()
    first, _ = await _submit(transact, clock)
    sent = _request()
    unset_kind = _request(kind=case_pb2.CASE_KIND_UNSPECIFIED)
    spelled = [_request(diagnosis_code=sent.diagnosis_code.lower()),
               _request(diagnosis_code=sent.diagnosis_code.replace(".", "")),
               _request(jurisdiction=sent.jurisdiction.lower()), unset_kind]
    trailing, formatted = _request(), _request()
    trailing.patient.family_name += " "
    formatted.patient.phone = "(415) 555-0123"  # the sample's +14155550123, as a US caller writes it
    spelled += [trailing, formatted]
    newer_proto = SubmitCaseRequest.FromString(sent.SerializeToString() + b"\xb8\x3e\x01")  # a field added later
    spelled.append(newer_proto)
    for req in spelled:
        again, created = await _submit(transact, clock, req)
        assert (again.case_id, created) == (first.case_id, False)
    changed = _request()
    changed.patient.family_name += "-Smith"
    with pytest.raises(usecases.KeyReused):
        await _submit(transact, clock, changed)
    assert len(transact.state.cases) == 1


async def test_a_case_from_before_the_contents_fingerprint_is_known_by_an_exact_repeat_only():
    transact, clock = intake_transact(), FakeClock()
    first, _ = await _submit(transact, clock)
    assert first.request_content_sha256.startswith("keyed:")  # kept beside the request's own, keyed
    # As a case from before kept it (and an older replica still reads it): the request's digest alone.
    transact.state.cases[first.case_id] = dataclasses.replace(transact.state.cases[first.case_id],
                                                              request_content_sha256="")
    again, created = await _submit(transact, clock)
    assert (again.case_id, created) == (first.case_id, False)
    with pytest.raises(usecases.KeyReused):
        await _submit(transact, clock, _request(diagnosis_code="c50.911"))  # spelled otherwise: not known so


async def test_a_key_is_its_id_within_the_system_that_assigned_it():
    transact, clock = intake_transact(), FakeClock()
    first, _ = await _submit(transact, clock, _request(client_request_system="urn:oid:1.2.3"))
    other, created = await _submit(transact, clock, _request(client_request_system="https://other.example.org/o",
                                                             clinical_question="another patient's question"))
    assert created and other.case_id != first.case_id
    again, created = await _submit(transact, clock, _request(client_request_system="urn:oid:1.2.3"))
    assert (again.case_id, created) == (first.case_id, False)
    with pytest.raises(usecases.InvalidSubmission):
        await _submit(transact, clock, _request(client_request_system="not a uri"))


async def test_an_invalid_submission_names_every_field_and_stores_nothing():
    transact = intake_transact()
    with pytest.raises(usecases.InvalidSubmission) as info:
        await _submit(transact, FakeClock(), _request(diagnosis_code="XYZ", jurisdiction="California"))
    assert [f for f, _ in info.value.violations] == ["diagnosis_code", "jurisdiction"]
    assert transact.state.cases == {} and transact.committed == []


async def test_stage_events_move_the_status_forward_and_late_ones_join_the_timeline():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    submitted = transact.committed[0]
    offered = caused_by(submitted, events_pb2.SpecialistOffered(assignment_id="a1", specialist_id="spec-7"),
                        producer="matching")
    started = caused_by(submitted, events_pb2.MatchingStarted(), producer="matching")
    for event in (offered, started, offered):  # started arrives late, offered twice
        clock.advance(1)
        await usecases.project(Committed(transact, InMemoryCases), Feed(), event, clock, STUCK_AFTER)
    now = transact.state.cases[case.case_id]
    assert now.status == S.CASE_STATUS_OFFERED and now.specialist_id == "spec-7"
    assert [e.event_type for e in now.timeline] == ["case.submitted", "specialist.offered", "matching.started"]
    assert now.next_redrive_at is None  # OFFERED waits on a person: not the sweeper's


async def test_an_unmatched_case_keeps_the_reason_on_its_timeline():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    reason = "no eligible specialist for C50.911 in US-CA: 3 excluded by licensed_in_jurisdiction"
    unmatched = caused_by(transact.committed[0], events_pb2.CaseUnmatched(reason=reason), producer="matching")
    await usecases.project(Committed(transact, InMemoryCases), Feed(), unmatched, clock, STUCK_AFTER)
    now = transact.state.cases[case.case_id]
    assert now.status == S.CASE_STATUS_UNMATCHED
    assert [(e.event_type, e.detail) for e in now.timeline] == [("case.submitted", ""), ("case.unmatched", reason)]


async def test_a_case_read_for_review_is_audited_as_the_reviewer_and_holds_no_identifying_detail():
    transact, clock, audit = intake_transact(), FakeClock(), RecordedAccesses()
    case, _ = await _submit(transact, clock, audit=audit)
    service = Principal(subject="service:review", tenant="secondlook-services", roles=frozenset({"case-reader"}))
    read = await usecases.case_for_review(InMemoryCaseReader(transact), audit, clock, service, case.case_id, "spec-7")
    assert await usecases.case_for_review(InMemoryCaseReader(transact), audit, clock, service, "nope", "spec-7") is None
    access = audit.accesses[-1]
    assert (access.method, access.subject, access.tenant_id) == ("GetCaseForReview", "spec-7 via service:review", "t1")
    assert "patient" not in access.fields and "patient.age" in access.fields
    for stranger in (Principal(subject="service:notify", tenant="secondlook-services", roles=frozenset({"case-reader"})),
                     Principal(subject="service:review", tenant="t1", roles=frozenset({"case-reader"}))):
        with pytest.raises(usecases.NotReviewService):  # the review service's identity, or nothing
            await usecases.case_for_review(InMemoryCaseReader(transact), audit, clock, stranger, case.case_id, "x")
    assert age_on("1920-01-01", date(2026, 11, 27)) == 90  # over 89: told as 90 (HIPAA Safe Harbor)
    transact.state.cases[case.case_id] = dataclasses.replace(read, status=case_pb2.CASE_STATUS_WITHDRAWN)
    assert await usecases.case_for_review(InMemoryCaseReader(transact), audit, clock, service, case.case_id,
                                          "spec-7") is None  # withdrawn: nothing left to review
    message = review_message(read, date(2026, 11, 27), "spec-7")
    request = clients.sample_cases()[0]
    assert message.clinical_question == request.clinical_question and message.first_opinion.rationale
    assert message.patient_age_years == age_on(request.patient.birth_date, date(2026, 11, 27)) > 0
    wire = message.SerializeToString()
    for identifying in (request.patient.family_name, request.patient.given_name, request.patient.birth_date,
                        request.patient.email, request.patient.phone, request.patient.identifiers[0].value):
        assert identifying.encode() not in wire, identifying


async def test_a_declined_offer_is_on_the_timeline_with_its_coded_reason_and_the_case_stays_offered():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    cases = Committed(transact, InMemoryCases)
    offered = caused_by(transact.committed[0], events_pb2.SpecialistOffered(specialist_id="spec-7"),
                        producer="matching")
    declined = caused_by(offered, events_pb2.AssignmentDeclined(
        specialist_id="spec-7", reason=case_pb2.DECLINE_REASON_OUTSIDE_EXPERTISE), producer="review")
    expired = caused_by(offered, events_pb2.AssignmentExpired(specialist_id="spec-7"), producer="review")
    taken_back = caused_by(offered, events_pb2.AssignmentExpired(specialist_id="spec-7", specialist_deactivated=True),
                           producer="review")
    await usecases.project(cases, Feed(), offered, clock, STUCK_AFTER)
    assert transact.state.cases[case.case_id].specialist_id == "spec-7"
    for event in (declined, expired, taken_back):
        await usecases.project(cases, Feed(), event, clock, STUCK_AFTER)
    now = transact.state.cases[case.case_id]
    assert now.status == S.CASE_STATUS_OFFERED
    assert now.specialist_id == ""  # who declined no longer has it (GetCase named them while the case waited)
    assert [(e.event_type, e.detail) for e in now.timeline[2:]] == [
        ("assignment.declined", "the offer was declined (outside expertise): matching looks for another reviewer"),
        ("assignment.expired", "the offer expired unanswered: matching looks for another reviewer"),
        ("assignment.expired", "the offer was taken back (the specialist was deactivated): matching looks for "
                               "another reviewer")]


async def test_a_panels_case_names_the_reviewer_who_accepted_not_one_who_declined_after():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    cases = Committed(transact, InMemoryCases)
    offers = [caused_by(transact.committed[0], events_pb2.SpecialistOffered(specialist_id=s), producer="matching")
              for s in ("a", "b", "c")]
    accepted = caused_by(offers[1], events_pb2.AssignmentAccepted(specialist_id="b"), producer="review")
    declined = caused_by(offers[0], events_pb2.AssignmentDeclined(specialist_id="a"), producer="review")
    late_decline = caused_by(offers[2], events_pb2.AssignmentDeclined(specialist_id="c"), producer="review")
    for event in (*offers, accepted, declined):
        await usecases.project(cases, Feed(), event, clock, STUCK_AFTER)
    assert transact.state.cases[case.case_id].specialist_id == "b"
    # A replacement seat offered after, and its decline: "b" is still the one who has it.
    replacement = caused_by(declined, events_pb2.SpecialistOffered(specialist_id="d"), producer="matching")
    replaced = caused_by(replacement, events_pb2.AssignmentDeclined(specialist_id="d"), producer="review")
    for event in (late_decline, replacement, replaced):
        await usecases.project(cases, Feed(), event, clock, STUCK_AFTER)
        assert transact.state.cases[case.case_id].specialist_id == "b"


async def test_a_case_waiting_for_a_free_slot_is_on_the_timeline_and_stays_matching():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    cases = Committed(transact, InMemoryCases)
    started = caused_by(transact.committed[0], events_pb2.MatchingStarted(), producer="matching")
    payload = events_pb2.CaseWaiting(reason="3 eligible specialists are at capacity: the case waits for a free slot",
                                     eligible_at_capacity=3)
    payload.wait_until.FromDatetime(datetime(2026, 1, 2, 9, 30, tzinfo=timezone.utc))
    waiting = caused_by(transact.committed[0], payload, producer="matching")
    for event in (started, waiting):
        await usecases.project(cases, Feed(), event, clock, STUCK_AFTER)
    now = transact.state.cases[case.case_id]
    assert now.status == S.CASE_STATUS_MATCHING
    assert (now.timeline[-1].event_type, now.timeline[-1].detail) == (
        "case.waiting", "3 eligible specialists are at capacity: the case waits for a free slot; offered as soon "
                        "as slots come free, else unmatched at 2026-01-02 09:30:00 UTC")
    # Not stuck: the sweeper looks at it again only once its wait should be over.
    assert now.next_redrive_at == datetime(2026, 1, 2, 9, 30, tzinfo=timezone.utc) + timedelta(seconds=STUCK_AFTER)
    stored = domain_case.projected_fields(dataclasses.replace(now, next_redrive_at=None), now)
    assert stored == {"redrives": 0, "next_redrive_at": now.next_redrive_at}


async def test_a_projection_over_a_case_that_moved_meanwhile_reads_it_again_and_both_land():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    submitted = transact.committed[0]
    started = caused_by(submitted, events_pb2.MatchingStarted(), producer="matching")
    offered = caused_by(submitted, events_pb2.SpecialistOffered(assignment_id="a1", specialist_id="spec-7"),
                        producer="matching")

    class RacedOnce(InMemoryCases):
        """Another replica projects `started` between this projection's read and its write."""
        raced = False

        async def save_projection(self, before, after, event_ids):
            if not self.raced:
                self.raced = True
                await usecases.project(Committed(transact, InMemoryCases), Feed(), started, clock, STUCK_AFTER)
            return await super().save_projection(before, after, event_ids)

    repository = RacedOnce(transact.state)
    assert await usecases.project(repository, Feed(), offered, clock, STUCK_AFTER) is True
    now = transact.state.cases[case.case_id]
    assert repository.raced and now.status == S.CASE_STATUS_OFFERED
    assert [e.event_type for e in now.timeline] == ["case.submitted", "matching.started", "specialist.offered"]
    assert await usecases.project(repository, Feed(), offered, clock, STUCK_AFTER) is False  # a repeat changes nothing
    assert transact.state.cases[case.case_id] == now


async def test_a_batch_of_stage_events_projects_each_case_and_leaves_the_doubtful_ones_to_go_alone():
    transact, clock = intake_transact(), FakeClock()
    first, _ = await _submit(transact, clock, _request("k-1"))
    second, _ = await _submit(transact, clock, _request("k-2"))
    third, _ = await _submit(transact, clock, _request("k-3"))
    a, b, c = transact.committed
    offered_a = caused_by(a, events_pb2.SpecialistOffered(assignment_id="a1", specialist_id="spec-7"),
                          producer="matching")
    started_b = caused_by(b, events_pb2.MatchingStarted(), producer="matching")
    accepted_c = caused_by(c, events_pb2.AssignmentAccepted(), producer="review")
    for event in (offered_a, accepted_c):
        await usecases.project(Committed(transact, InMemoryCases), Feed(), event, clock, STUCK_AFTER)
    unmatched_c = caused_by(c, events_pb2.CaseUnmatched(), producer="matching")  # after ASSIGNED: refused
    stranger = new_event(events_pb2.MatchingStarted(), case_id=first.case_id, tenant_id="t2", producer="matching")
    unknown = new_event(events_pb2.MatchingStarted(), case_id="nope", tenant_id="t1", producer="matching")

    class Contended(InMemoryCases):
        """Case b moves under the batch (a redrive between its read and its write)."""

        async def save_projections(self, writes):
            return [False if before.case_id == second.case_id else await self.save_projection(before, after, e)
                    for before, after, e in writes]

    events = [offered_a, started_b, unmatched_c, stranger, unknown]
    results = await usecases.project_many(Contended(transact.state), Feed(), events, clock, STUCK_AFTER)

    # a repeat; moved meanwhile: alone; refused (handled); not the tenant's and unknown: alone (refused there)
    assert results == [False, None, True, None, None]
    assert transact.state.cases[second.case_id].status == S.CASE_STATUS_SUBMITTED
    assert transact.state.cases[third.case_id].status == S.CASE_STATUS_ASSIGNED
    results = await usecases.project_many(InMemoryCases(transact.state), Feed(), [started_b], clock, STUCK_AFTER)
    assert results == [True]
    assert transact.state.cases[second.case_id].status == S.CASE_STATUS_MATCHING


async def test_an_event_for_an_unknown_case_or_another_tenant_is_refused_for_good():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    stranger = new_event(events_pb2.MatchingStarted(), case_id=case.case_id, tenant_id="t2", producer="matching")
    with pytest.raises(PermanentError, match="tenant_id"):
        await usecases.project(Committed(transact, InMemoryCases), Feed(), stranger, clock, STUCK_AFTER)
    unknown = new_event(events_pb2.MatchingStarted(), case_id="nope", tenant_id="t1", producer="matching")
    with pytest.raises(PermanentError, match="case_id"):
        await usecases.project(Committed(transact, InMemoryCases), Feed(), unknown, clock, STUCK_AFTER)


async def test_the_sweeper_redrives_only_due_cases_in_system_stages_and_backs_off():
    transact, clock = intake_transact(), FakeClock()
    reader = InMemoryCaseReader(transact)
    stuck, _ = await _submit(transact, clock, _request("stuck"))
    waiting, _ = await _submit(transact, clock, _request("waiting"))
    offer = caused_by(transact.committed[1], events_pb2.SpecialistOffered(assignment_id="a", specialist_id="s"),
                      producer="matching")
    await usecases.project(Committed(transact, InMemoryCases), Feed(), offer, clock, STUCK_AFTER)
    clock.advance(STUCK_AFTER + 1)
    redriven = await usecases.sweep(transact, reader, clock, stuck_after=STUCK_AFTER, max_per_sweep=10)
    assert [c.case_id for c in redriven] == [stuck.case_id]
    request = transact.committed[-1].redrive_requested
    assert request.stuck_in == S.CASE_STATUS_SUBMITTED
    assert tuple(request.republish_types) == REDRIVE_REPUBLISH[S.CASE_STATUS_SUBMITTED]
    assert await usecases.sweep(transact, reader, clock, stuck_after=STUCK_AFTER, max_per_sweep=10) == []
    clock.advance(STUCK_AFTER * 2 + 1)  # the second redrive waits twice as long
    assert len(await usecases.sweep(transact, reader, clock, stuck_after=STUCK_AFTER, max_per_sweep=10)) == 1
    assert transact.state.cases[stuck.case_id].redrives == 2
    assert transact.state.cases[waiting.case_id].redrives == 0


async def test_a_submit_whose_audit_failed_after_commit_is_recorded_by_its_retry():
    class FailsOnce(RecordedAccesses):
        async def record(self, access):
            if not getattr(self, "failed", False):
                self.failed = True
                raise ConnectionError("store away")
            await super().record(access)

    transact, clock, audit = intake_transact(), FakeClock(), FailsOnce()
    with pytest.raises(ConnectionError):
        await _submit(transact, clock, audit=audit)
    assert len(transact.state.cases) == 1 and audit.accesses == []  # stored, not yet recorded
    case, created = await _submit(transact, clock, audit=audit)  # the client retries with the same key
    await _submit(transact, clock, audit=audit)  # and once more: recorded once only
    assert not created and [(a.method, a.case_id) for a in audit.accesses] == [("SubmitCase", case.case_id)]


async def test_listing_whole_cases_records_each_one_and_summaries_record_nothing():
    transact, clock, audit = intake_transact(), FakeClock(), RecordedAccesses()
    ids = []
    for i in range(3):
        clock.advance(1)
        ids.append((await _submit(transact, clock, _request(key=f"req-{i}")))[0].case_id)
    reader = InMemoryCaseReader(transact)
    summary, _ = parse_query(intake_pb2.ListCasesRequest(page_size=2), frozenset({"t1"}))
    page, token = await usecases.list_cases(reader, audit, clock, _principal(), summary)
    assert [c.case_id for c in page] == ids[:0:-1] and token and audit.accesses == []
    full, _ = parse_query(intake_pb2.ListCasesRequest(page_size=2, view=intake_pb2.CASE_VIEW_FULL), frozenset({"t1"}))
    page, _ = await usecases.list_cases(reader, audit, clock, _principal(subject="auditor"), full)
    assert all(c.content is not None for c in page)
    assert sorted((a.method, a.case_id) for a in audit.accesses) == sorted(("ListCases", i) for i in ids[1:])


async def test_a_cases_events_in_one_batch_are_folded_into_one_write():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    submitted = transact.committed[0]
    started = caused_by(submitted, events_pb2.MatchingStarted(), producer="matching")
    offered = caused_by(submitted, events_pb2.SpecialistOffered(assignment_id="a1", specialist_id="spec-7"),
                        producer="matching")
    accepted = caused_by(submitted, events_pb2.AssignmentAccepted(), producer="review")
    unmatched = caused_by(submitted, events_pb2.CaseUnmatched(), producer="matching")  # refused after ASSIGNED

    class Counting(InMemoryCases):
        writes: list = []

        async def save_projections(self, writes):
            self.writes.append([(before.status, after.status, ids) for before, after, ids in writes])
            return await super().save_projections(writes)

    repository = Counting(transact.state)
    batch = [started, offered, accepted, unmatched, started]
    results = await usecases.project_many(repository, Feed(), batch, clock, STUCK_AFTER)
    assert results == [True, True, True, True, False]  # the refused one is handled, the repeat a repeat
    assert repository.writes == [[(S.CASE_STATUS_SUBMITTED, S.CASE_STATUS_ASSIGNED,
                                   (started.event_id, offered.event_id, accepted.event_id))]]
    now = transact.state.cases[case.case_id]
    assert now.status == S.CASE_STATUS_ASSIGNED and now.specialist_id == "spec-7"
    assert [e.event_type for e in now.timeline] == [
        "case.submitted", "matching.started", "specialist.offered", "assignment.accepted"]


async def _next(updates, timeout=2.0):
    return await asyncio.wait_for(anext(updates), timeout)


async def test_watching_a_case_streams_its_timeline_then_each_entry_as_it_is_projected():
    transact, clock, audit, changes = intake_transact(), FakeClock(), RecordedAccesses(), Feed()
    case, _ = await _submit(transact, clock)
    submitted = transact.committed[0]
    reader, repository = InMemoryCaseReader(transact), InMemoryCases(transact.state)
    updates = usecases.watch_case(reader, changes, audit, clock, _principal(subject="watcher"), case.case_id, 0)
    position, entry, status = await _next(updates)
    assert (position, entry.event_type, status) == (1, "case.submitted", S.CASE_STATUS_SUBMITTED)
    assert [(a.method, a.subject, a.fields) for a in audit.accesses if a.method == "WatchCase"] == [
        ("WatchCase", "watcher", ("timeline",))]
    waiting = asyncio.ensure_future(_next(updates))
    offered = caused_by(submitted, events_pb2.SpecialistOffered(assignment_id="a1", specialist_id="s"),
                        producer="matching")
    started = caused_by(submitted, events_pb2.MatchingStarted(), producer="matching")
    assert await usecases.project_many(repository, changes, [offered, started], clock, STUCK_AFTER) == [True, True]
    assert (await waiting)[:1] == (2,)
    position, entry, status = await _next(updates)  # late: recorded, the status stays OFFERED
    assert (position, entry.event_type, status) == (3, "matching.started", S.CASE_STATUS_OFFERED)
    await updates.aclose()
    assert changes.watching == 0


async def test_a_resumed_watch_starts_after_its_position_and_a_final_case_ends_the_stream():
    transact, clock, changes = intake_transact(), FakeClock(), Feed()
    case, _ = await _submit(transact, clock)
    submitted = transact.committed[0]
    for payload in (events_pb2.MatchingStarted(), events_pb2.SpecialistOffered(assignment_id="a", specialist_id="s")):
        await usecases.project(InMemoryCases(transact.state), changes, caused_by(submitted, payload, producer="matching"),
                               clock, STUCK_AFTER)
    stored = transact.state.cases[case.case_id]
    transact.state.cases[case.case_id] = dataclasses.replace(stored, status=S.CASE_STATUS_CLOSED)
    updates = usecases.watch_case(InMemoryCaseReader(transact), changes, RecordedAccesses(), clock, _principal(),
                                  case.case_id, 1)
    assert [(p, e.event_type) for p, e, _ in [u async for u in updates]] == [
        (2, "matching.started"), (3, "specialist.offered")]  # then it ended: nothing more can happen


async def test_watching_another_tenants_case_or_past_the_end_is_refused_and_not_recorded():
    transact, clock, audit, changes = intake_transact(), FakeClock(), RecordedAccesses(), Feed()
    case, _ = await _submit(transact, clock)
    reader = InMemoryCaseReader(transact)
    with pytest.raises(usecases.NotFound):
        await anext(usecases.watch_case(reader, changes, audit, clock, _principal("t2"), case.case_id, 0))
    with pytest.raises(usecases.PositionAhead):
        await anext(usecases.watch_case(reader, changes, audit, clock, _principal(), case.case_id, 2))
    assert audit.accesses == [] and changes.watching == 0


async def _withdraw(transact, clock, case_id, principal=None, reason=case_pb2.WITHDRAWAL_REASON_PATIENT_REQUEST,
                    note="", audit=None, changes=None):
    return await usecases.withdraw_case(transact, audit or RecordedAccesses(), changes or Feed(), clock,
                                        principal or _principal(), case_id, reason, note)


async def test_a_withdrawn_case_emits_its_reason_only_and_later_stage_events_are_refused():
    transact, clock, audit = intake_transact(), FakeClock(), RecordedAccesses()
    case, _ = await _submit(transact, clock)
    submitted = transact.committed[0]
    clock.advance(3)
    withdrawn = await _withdraw(transact, clock, case.case_id, note="Patient chose to proceed locally", audit=audit)
    assert withdrawn.status == S.CASE_STATUS_WITHDRAWN and withdrawn.withdrawn_at == clock.now()
    stored = transact.state.cases[case.case_id]
    assert stored.status == S.CASE_STATUS_WITHDRAWN and stored.next_redrive_at is None
    assert stored.content.withdrawal_note == "Patient chose to proceed locally"
    assert [e.event_type for e in stored.timeline] == ["case.submitted", "case.withdrawn"]
    event = transact.committed[-1]
    assert event.type == "case.withdrawn" and event.case_withdrawn.reason == case_pb2.WITHDRAWAL_REASON_PATIENT_REQUEST
    assert b"locally" not in event.SerializeToString()
    assert [(a.method, a.fields) for a in audit.accesses] == [("WithdrawCase", ("status", "withdrawal"))]
    # Again: the case as it is, nothing emitted or recorded twice.
    again = await _withdraw(transact, clock, case.case_id, audit=audit)
    assert again.status == S.CASE_STATUS_WITHDRAWN and len(transact.committed) == 2 and len(audit.accesses) == 1
    forgotten = RecordedAccesses()  # the first attempt committed, then failed to record the write
    await _withdraw(transact, clock, case.case_id, audit=forgotten)
    assert [a.method for a in forgotten.accesses] == ["WithdrawCase"]
    late = caused_by(submitted, events_pb2.SpecialistOffered(assignment_id="a", specialist_id="s"), producer="matching")
    assert await usecases.project(InMemoryCases(transact.state), Feed(), late, clock, STUCK_AFTER) is True  # refused
    assert transact.state.cases[case.case_id].status == S.CASE_STATUS_WITHDRAWN


async def test_withdrawal_needs_a_reason_an_open_case_of_ones_own_tenant():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    with pytest.raises(InvalidInput) as info:
        await _withdraw(transact, clock, case.case_id, reason=0, note="x" * 1001)
    assert [f for f, _ in info.value.violations] == ["reason", "note"]
    with pytest.raises(usecases.NotFound):
        await _withdraw(transact, clock, case.case_id, principal=_principal("t2"))
    operator = Principal(subject="ops", tenant="ops", roles=frozenset({"operator"}), granted_tenants=frozenset({"t1"}))
    with pytest.raises(usecases.NotFound):  # an operator's grant is to read, not to change
        await _withdraw(transact, clock, case.case_id, principal=operator)
    delivered = dataclasses.replace(transact.state.cases[case.case_id], status=S.CASE_STATUS_DELIVERED)
    transact.state.cases[case.case_id] = delivered
    with pytest.raises(NotWithdrawable, match="DELIVERED"):
        await _withdraw(transact, clock, case.case_id)
    assert transact.state.cases[case.case_id] == delivered and len(transact.committed) == 1


async def test_an_unmatched_case_can_be_withdrawn_and_a_watcher_sees_it_end():
    transact, clock, changes = intake_transact(), FakeClock(), Feed()
    case, _ = await _submit(transact, clock)
    unmatched = caused_by(transact.committed[0], events_pb2.CaseUnmatched(reason="nobody"), producer="matching")
    await usecases.project(InMemoryCases(transact.state), changes, unmatched, clock, STUCK_AFTER)
    updates = usecases.watch_case(InMemoryCaseReader(transact), changes, RecordedAccesses(), clock, _principal(),
                                  case.case_id, 2)
    waiting = asyncio.ensure_future(anext(updates))  # before or after it subscribes: the same entry, once
    await _withdraw(transact, clock, case.case_id, changes=changes)
    position, entry, status = await asyncio.wait_for(waiting, 2)
    assert (position, entry.event_type, status) == (3, "case.withdrawn", S.CASE_STATUS_WITHDRAWN)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(updates), 2)


def _record(n: int) -> intake_pb2.Attachment:
    return intake_pb2.Attachment(uri=f"https://records.example.org/doc/{n}", media_type="application/pdf",
                                 size_bytes=1000 + n, sha256=f"{n:064x}", title=f"Report {n}")


async def test_added_records_join_the_case_and_its_timeline_once_and_the_read_is_recorded():
    transact, clock, audit, changes = intake_transact(), FakeClock(), RecordedAccesses(), Feed()
    case, _ = await _submit(transact, clock)
    held = len(case.content.attachments)
    updates = usecases.watch_case(InMemoryCaseReader(transact), changes, RecordedAccesses(), clock, _principal(),
                                  case.case_id, 1)
    waiting = asyncio.ensure_future(anext(updates))
    moved, added, total = await usecases.add_documents(transact, audit, changes, clock, _principal(), case.case_id,
                                                       [_record(1), _record(2), _record(1)])
    assert (added, total) == (2, held + 2) and moved.status == case.status
    stored = transact.state.cases[case.case_id]
    assert [a.uri for a in stored.content.attachments][-2:] == [_record(1).uri, _record(2).uri]
    event = transact.committed[-1]
    assert event.type == "documents.added" and event.documents_added.count == 2
    assert b"records.example.org" not in event.SerializeToString()
    position, entry, status = await asyncio.wait_for(waiting, 2)
    assert (position, entry.event_type, status) == (2, "documents.added", S.CASE_STATUS_SUBMITTED)
    await updates.aclose()
    # A retry adds nothing, emits nothing, and still records that the records were read.
    assert (await usecases.add_documents(transact, audit, changes, clock, _principal(), case.case_id,
                                         [_record(2)]))[1:] == (0, held + 2)
    assert len(transact.committed) == 2
    assert [(a.method, a.fields) for a in audit.accesses] == [("AddDocuments", ("attachments",))] * 2


REVIEW = Principal(subject="service:review", tenant="secondlook-services", roles=frozenset({"case-reader"}))


def _stage(case_id, event_type, payload, n):
    event = new_event(payload, case_id=case_id, tenant_id="t1", producer="review")
    assert event.type == event_type
    return event


async def test_a_reviewers_questions_are_kept_sealed_with_the_case_and_records_added_answer_them():
    transact, clock, audit, changes = intake_transact(), FakeClock(), RecordedAccesses(), Feed()
    case, _ = await _submit(transact, clock)
    cases = Committed(transact, InMemoryCases)
    for n, (event_type, payload) in enumerate([
            ("assignment.accepted", events_pb2.AssignmentAccepted(assignment_id="a1", specialist_id="spec-1")),
            ("review.started", events_pb2.ReviewStarted(assignment_id="a1", specialist_id="spec-1"))]):
        await usecases.project(cases, changes, _stage(case.case_id, event_type, payload, n), clock, STUCK_AFTER)
    kept = await usecases.record_info_request(transact, audit, clock, REVIEW, case.case_id, "r1", "spec-1",
                                              [" Pathology report of the core biopsy? "])
    assert kept.questions == ("Pathology report of the core biopsy?",)
    await usecases.record_info_request(transact, audit, clock, REVIEW, case.case_id, "r1", "spec-1", ["again"])
    assert [r.questions for r in transact.state.cases[case.case_id].info_requests] == [kept.questions]  # once
    assert (audit.accesses[-1].method, audit.accesses[-1].subject) == ("RecordInfoRequest", "spec-1 via service:review")
    assert transact.committed[-1].type == "case.submitted"  # intake emits nothing: review's event moves the case

    asked = events_pb2.InfoRequested(assignment_id="a1", specialist_id="spec-1", request_id="r1", question_count=1)
    await usecases.project(cases, changes, _stage(case.case_id, "info.requested", asked, 3), clock, STUCK_AFTER)
    waiting = transact.state.cases[case.case_id]
    assert waiting.status == S.CASE_STATUS_NEEDS_INFO
    assert "asked 1 question" in waiting.timeline[-1].detail
    shown = case_message(await usecases.get_case(InMemoryCaseReader(transact), audit, clock, _principal(),
                                                 case.case_id))
    assert [list(r.questions) for r in shown.info_requests] == [list(kept.questions)]
    assert not shown.info_requests[0].HasField("answered_at")

    clock.advance(3600)
    moved, added, _ = await usecases.add_documents(transact, audit, changes, clock, _principal(), case.case_id,
                                                   [_record(7)])
    assert added == 1 and moved.status == S.CASE_STATUS_IN_REVIEW
    assert transact.state.cases[case.case_id].status == S.CASE_STATUS_IN_REVIEW
    resumed = events_pb2.ReviewResumed(assignment_id="a1", specialist_id="spec-1")
    await usecases.project(cases, changes, _stage(case.case_id, "review.resumed", resumed, 4), clock, STUCK_AFTER)
    answered = transact.state.cases[case.case_id]
    assert answered.status == S.CASE_STATUS_IN_REVIEW and answered.timeline[-1].event_type == "review.resumed"
    shown = case_message(answered)
    assert shown.info_requests[0].answered_at.ToDatetime(tzinfo=clock.now().tzinfo) == clock.now()
    # The reviewer sees their own requests only (a panel's members review independently).
    assert len(review_message(answered, date(2026, 11, 27), "spec-1").info_requests) == 1
    assert len(review_message(answered, date(2026, 11, 27), "spec-2").info_requests) == 0


async def test_only_the_review_service_records_questions_and_only_on_an_open_case():
    transact, clock, audit = intake_transact(), FakeClock(), RecordedAccesses()
    case, _ = await _submit(transact, clock)
    for stranger in (_principal(), Principal(subject="service:notify", tenant="secondlook-services",
                                             roles=frozenset({"case-reader"}))):
        with pytest.raises(usecases.NotReviewService):
            await usecases.record_info_request(transact, audit, clock, stranger, case.case_id, "r1", "s", ["Why?"])
    with pytest.raises(usecases.InvalidQuestions) as refused:
        await usecases.record_info_request(transact, audit, clock, REVIEW, case.case_id, "r1", "s", ["", "x" * 2001])
    assert [p for p, _ in refused.value.violations] == ["questions[0]", "questions[1]"]
    with pytest.raises(usecases.NotFound):
        await usecases.record_info_request(transact, audit, clock, REVIEW, "nope", "r1", "s", ["Why?"])
    await _withdraw(transact, clock, case.case_id)
    with pytest.raises(NotAskable, match="WITHDRAWN"):
        await usecases.record_info_request(transact, audit, clock, REVIEW, case.case_id, "r1", "s", ["Why?"])
    assert transact.state.cases[case.case_id].info_requests == () and audit.accesses == []


async def test_records_are_checked_like_a_submissions_and_only_an_open_case_takes_them():
    transact, clock = intake_transact(), FakeClock()
    case, _ = await _submit(transact, clock)
    bad = _record(3)
    bad.uri, bad.sha256 = "http://records.example.org/x", "abc"
    with pytest.raises(InvalidInput) as info:
        await usecases.add_documents(transact, RecordedAccesses(), Feed(), clock, _principal(), case.case_id, [bad])
    assert [f for f, _ in info.value.violations] == ["attachments[0].uri", "attachments[0].sha256"]
    with pytest.raises(InvalidInput, match="at least one"):
        await usecases.add_documents(transact, RecordedAccesses(), Feed(), clock, _principal(), case.case_id, [])
    with pytest.raises(InvalidInput, match="at most 50"):
        await usecases.add_documents(transact, RecordedAccesses(), Feed(), clock, _principal(), case.case_id,
                                     [_record(n) for n in range(10, 60)])
    with pytest.raises(usecases.NotFound):
        await usecases.add_documents(transact, RecordedAccesses(), Feed(), clock, _principal("t2"), case.case_id,
                                     [_record(4)])
    await _withdraw(transact, clock, case.case_id)
    with pytest.raises(ClosedToDocuments, match="WITHDRAWN"):
        await usecases.add_documents(transact, RecordedAccesses(), Feed(), clock, _principal(), case.case_id,
                                     [_record(4)])
    assert [e.type for e in transact.committed] == ["case.submitted", "case.withdrawn"]


async def test_a_watch_ends_once_the_case_is_delivered_with_every_stage_recorded():
    transact, clock, changes = intake_transact(), FakeClock(), Feed()
    case, _ = await _submit(transact, clock)
    submitted = transact.committed[0]
    stages = [("matching", events_pb2.MatchingStarted()),
              ("matching", events_pb2.SpecialistOffered(assignment_id="a", specialist_id="s")),
              ("review", events_pb2.AssignmentAccepted(assignment_id="a", specialist_id="s")),
              ("review", events_pb2.OpinionSubmitted(assignment_id="a", specialist_id="s")),
              ("notify", events_pb2.OpinionDelivered(delivery_id="d")),
              ("review", events_pb2.ReviewStarted(assignment_id="a", specialist_id="s"))]  # late, after DELIVERED
    updates = usecases.watch_case(InMemoryCaseReader(transact), changes, RecordedAccesses(), clock, _principal(),
                                  case.case_id, 0)
    seen = [await _next(updates)]
    for producer, payload in stages:
        await usecases.project(InMemoryCases(transact.state), changes, caused_by(submitted, payload, producer=producer),
                               clock, STUCK_AFTER)
    async def to_the_end():
        return [u async for u in updates]

    seen += await asyncio.wait_for(to_the_end(), 5)  # it ends by itself once nothing more is to come
    assert [p for p, _, _ in seen] == list(range(1, 8))
    assert seen[-1][1].event_type == "review.started" and seen[-1][2] == S.CASE_STATUS_DELIVERED


async def test_finding_a_patients_cases_by_identifier_records_each_case_found():
    transact, clock, audit = intake_transact(), FakeClock(), RecordedAccesses()
    case, _ = await _submit(transact, clock)
    [(system, value)] = case.content.patient.mrns
    query, _ = parse_query(intake_pb2.ListCasesRequest(
        patient_identifier=intake_pb2.Identifier(system=system, value=value)), frozenset({"t1"}))
    page, _ = await usecases.list_cases(InMemoryCaseReader(transact), audit, clock, _principal(), query)
    assert [c.case_id for c in page] == [case.case_id] and page[0].content is None  # a summary
    assert [(a.method, a.fields) for a in audit.accesses] == [("ListCases", ("patient.identifiers",))]


async def test_a_panel_case_waits_on_records_while_any_reviewer_still_waits():
    transact, clock, audit, changes = intake_transact(), FakeClock(), RecordedAccesses(), Feed()
    case, _ = await _submit(transact, clock)
    cases = Committed(transact, InMemoryCases)

    async def project(payload):
        event = new_event(payload, case_id=case.case_id, tenant_id="t1", producer="review")
        await usecases.project(cases, changes, event, clock, STUCK_AFTER)

    await project(events_pb2.ReviewStarted(assignment_id="a1", specialist_id="m1"))
    for n, member in enumerate(("m1", "m2"), 1):
        await usecases.record_info_request(transact, audit, clock, REVIEW, case.case_id, f"r{n}", member, ["Scan?"])
    await project(events_pb2.InfoRequested(assignment_id="a1", specialist_id="m1", request_id="r1", question_count=1))
    await usecases.add_documents(transact, audit, changes, clock, _principal(), case.case_id, [_record(8)])
    assert transact.state.cases[case.case_id].status == S.CASE_STATUS_IN_REVIEW  # r1 answered
    await project(events_pb2.InfoRequested(assignment_id="a2", specialist_id="m2", request_id="r2", question_count=1))
    await project(events_pb2.ReviewResumed(assignment_id="a1", specialist_id="m1"))  # m1 goes on; m2 still waits
    waiting = transact.state.cases[case.case_id]
    assert waiting.status == S.CASE_STATUS_NEEDS_INFO
    assert statuses_along(waiting.timeline)[-1] == S.CASE_STATUS_NEEDS_INFO  # what a watcher is told, too


async def test_a_key_taken_under_an_index_of_the_id_alone_is_refused_as_reused(monkeypatch):
    """A store not yet migrated refuses a second system's equal id: that is a reused key
    (ALREADY_EXISTS), never an error reading a case that is not there."""
    from services.intake.repository import DuplicateRequest

    async def taken(self, case, sealed=None):
        raise DuplicateRequest(case.client_request_id)

    monkeypatch.setattr(InMemoryCases, "add", taken)
    with pytest.raises(usecases.KeyReused):
        await _submit(intake_transact(), FakeClock(), _request(client_request_system="urn:oid:1.2.3"))

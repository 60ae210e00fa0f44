"""Acceptance (issue 10, the reviewer API): every review method answers only the
reviewer the assignment belongs to; another reviewer gets NOT_FOUND (their lists
show nothing of it), a submitter or an operator PERMISSION_DENIED, no token or an
expired one UNAUTHENTICATED. The assigned reviewer reads the case once the offer is
accepted: review fetches it from intake with its own service identity, and intake
records the read, naming the reviewer, in the case's access audit."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pymongo import AsyncMongoClient

from devstack import clients
from devstack.receiver import registered_receiver
from secondlook.auth import mint_token
from secondlook.v1 import case_pb2, intake_pb2, review_pb2, review_pb2_grpc
from services.topology import PRODUCES
from tests.conftest import Pending, eventually
from tests.e2e.specialists import case_for, list_specialists, offer_of
from tests.integration.kafka_reader import read_topic

pytestmark = pytest.mark.e2e

PLACE = "US-NH"
ASSIGNED, OTHER = "nh-assigned", "nh-other"


def _calls(assignment_id: str):
    """Every review method, as (name, call on a stub with metadata)."""
    req = review_pb2.AssignmentRequest(assignment_id=assignment_id)
    opinion = clients.opinion(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED,
                              treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE, confidence=80)

    async def watch(stub, metadata):
        """What the stream sends first: an error, or the open inbox (nothing within a
        second counts as an empty one: a check that something does not come)."""
        stream = stub.WatchAssignments(review_pb2.WatchAssignmentsRequest(), metadata=metadata)
        try:
            first = await asyncio.wait_for(stream.read(), 1)
            return [first] if first is not grpc.aio.EOF else []
        except TimeoutError:
            return []
        finally:
            stream.cancel()

    return [
        ("ListAssignments", lambda s, m: s.ListAssignments(review_pb2.ListAssignmentsRequest(), metadata=m)),
        ("WatchAssignments", watch),
        ("GetAssignment", lambda s, m: s.GetAssignment(req, metadata=m)),
        ("AcceptAssignment", lambda s, m: s.AcceptAssignment(req, metadata=m)),
        ("DeclineAssignment", lambda s, m: s.DeclineAssignment(review_pb2.DeclineAssignmentRequest(
            assignment_id=assignment_id, reason=case_pb2.DECLINE_REASON_OTHER), metadata=m)),
        ("StartReview", lambda s, m: s.StartReview(req, metadata=m)),
        ("SubmitOpinion", lambda s, m: s.SubmitOpinion(review_pb2.SubmitOpinionRequest(
            assignment_id=assignment_id, opinion=opinion), metadata=m)),
        ("RequestMoreInfo", lambda s, m: s.RequestMoreInfo(review_pb2.RequestMoreInfoRequest(
            assignment_id=assignment_id, questions=["The echocardiogram report?"]), metadata=m)),
        ("RecordIndependentAssessment", lambda s, m: s.RecordIndependentAssessment(review_pb2.RecordAssessmentRequest(
            assignment_id=assignment_id, assessment=review_pb2.IndependentAssessment(
                diagnosis_code="Q21.1", treatment="Closure.")), metadata=m)),
        ("AmendOpinion", lambda s, m: s.AmendOpinion(review_pb2.AmendOpinionRequest(
            assignment_id=assignment_id, opinion=opinion, reason="A correction."), metadata=m)),
        ("DecidePriorAuth", lambda s, m: s.DecidePriorAuth(review_pb2.DecidePriorAuthRequest(
            assignment_id=assignment_id, decisions=[case_pb2.ItemDecision(
                item_key="1", action=case_pb2.ITEM_ACTION_APPROVE)]), metadata=m)),
    ]


def test_the_authorization_matrix_covers_every_review_method():
    methods = review_pb2.DESCRIPTOR.services_by_name["ReviewService"].methods_by_name
    assert sorted(name for name, _ in _calls("a1")) == sorted(methods)


async def test_only_the_assigned_reviewer_may_act_and_their_case_read_is_audited(stack, stack_settings):
    settings = stack_settings
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, submitter = clients.submitter(settings, stack.target("intake"), "review-api-tenant")
    mongo = AsyncMongoClient(stack.mongo_uri)
    channel = grpc.aio.insecure_channel(stack.target("review"))
    stub = review_pb2_grpc.ReviewServiceStub(channel)

    def token(**claims) -> tuple:
        return (("authorization", f"Bearer {mint_token(settings, **claims)}"),)

    callers = {
        "another reviewer": (token(subject="o@r.example", tenant="reviewers", roles=["reviewer"],
                                   specialist_id=OTHER), grpc.StatusCode.NOT_FOUND),
        "a submitter": (submitter.metadata, grpc.StatusCode.PERMISSION_DENIED),
        "an operator": (token(subject="ops@example.org", tenant="secondlook-operations", roles=["operator"],
                              tenants=["review-api-tenant"]), grpc.StatusCode.PERMISSION_DENIED),
        "no token": ((), grpc.StatusCode.UNAUTHENTICATED),
        "an expired token": (token(subject="a@r.example", tenant="reviewers", roles=["reviewer"],
                                   specialist_id=ASSIGNED, ttl_seconds=-60), grpc.StatusCode.UNAUTHENTICATED),
    }
    assigned = token(subject="a@r.example", tenant="reviewers", roles=["reviewer"], specialist_id=ASSIGNED)
    try:
        await list_specialists(directory, admin, PLACE, (ASSIGNED, 1.0, ""), (OTHER, 0.1, ""))
        request = case_for("review-api", PLACE)
        case_id = (await intake.SubmitCase(request, metadata=submitter.metadata, timeout=10)).case_id

        async def offered():
            found = await stub.ListAssignments(review_pb2.ListAssignmentsRequest(), metadata=assigned)
            mine = [a for a in found.assignments if a.case_id == case_id]
            return mine[0] if mine else Pending([a.case_id for a in found.assignments])

        assignment = await eventually(offered, 60, "the offer in the assigned reviewer's inbox")
        calls = _calls(assignment.assignment_id)

        for who, (metadata, code) in callers.items():
            for name, call in calls:
                if code == grpc.StatusCode.NOT_FOUND and name in ("ListAssignments", "WatchAssignments"):
                    got = await call(stub, metadata)  # their own inbox: nothing of this assignment in it
                    listed = got.assignments if name == "ListAssignments" else [c.assignment for c in got]
                    assert assignment.assignment_id not in [a.assignment_id for a in listed], (who, name)
                    continue
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(stub, metadata)
                assert refused.value.code() == code, (who, name, refused.value.details())

        # An id longer than any assignment's is refused as such, not looked up.
        for call in (stub.GetAssignment, stub.AcceptAssignment):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(review_pb2.AssignmentRequest(assignment_id="a" * 201), metadata=assigned)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "assignment_id: must be at most 200 characters" in refused.value.details()

        # The assigned reviewer: the offer shows routing facts only; once accepted, the case.
        detail = await stub.GetAssignment(review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id),
                                          metadata=assigned)
        assert not detail.HasField("case")
        await stub.AcceptAssignment(review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id),
                                    metadata=assigned)
        detail = await stub.GetAssignment(review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id),
                                          metadata=assigned)
        assert detail.case.case_id == case_id and detail.case.clinical_question == request.clinical_question
        assert detail.case.first_opinion.physician.npi == request.first_opinion.physician.npi
        assert detail.case.patient_age_years > 0 and detail.case.diagnosis.code == "Q21.1"
        for identifying in (request.patient.family_name, request.patient.birth_date, request.patient.email):
            assert identifying.encode() not in detail.SerializeToString()
        audit = await mongo["secondlook_intake"]["audit"].find_one(
            {"case_id": case_id, "method": "GetCaseForReview"})
        assert audit is not None and audit["subject"] == f"{ASSIGNED} via service:review"

        # The opinion: signed once, immutable; an amendment is a second version with its reason.
        request_id = review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id)
        await stub.StartReview(request_id, metadata=assigned)
        first = clients.opinion(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED,
                                treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE, narrative="CANARY-NARRATIVE-1",
                                confidence=70)
        await stub.SubmitOpinion(review_pb2.SubmitOpinionRequest(assignment_id=assignment.assignment_id,
                                                                 opinion=first), metadata=assigned)
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await stub.SubmitOpinion(review_pb2.SubmitOpinionRequest(assignment_id=assignment.assignment_id,
                                                                     opinion=first), metadata=assigned)
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        second = clients.opinion(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_REFINED, reviewer_diagnosis_code="Q21.10",
                                 treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE_WITH_MODIFICATIONS,
                                 recommendation="CANARY-RECOMMENDATION-2", confidence=75)
        await stub.AmendOpinion(review_pb2.AmendOpinionRequest(assignment_id=assignment.assignment_id,
                                                               opinion=second, reason="CANARY-REASON"),
                                metadata=assigned)
        versions = (await stub.GetAssignment(request_id, metadata=assigned)).opinions
        assert [(v.version, v.amendment_reason) for v in versions] == [(1, ""), (2, "CANARY-REASON")]
        assert versions[0].opinion.narrative == "CANARY-NARRATIVE-1"  # the first stays as it was signed
        assert versions[1].opinion.reviewer_diagnosis_code == "Q21.10"
        # Writing the opinion and its amendment, and reading them back, are in review's
        # access audit (in that order, after the refused second submission wrote nothing),
        # and its chain holds.
        records = await mongo["secondlook_review"]["audit"].find({"case_id": case_id}).sort("seq", 1).to_list()
        assert [(r["method"], r["fields"]) for r in records] == [
            ("SubmitOpinion", ["opinion"]), ("AmendOpinion", ["opinion", "amendment_reason"]),
            ("GetAssignment", ["opinions"])]
        read = records[-1]
        assert {(r["tenant_id"], r["subject"]) for r in records} == {("review-api-tenant", f"{ASSIGNED} as a@r.example")}
        env = {**os.environ, **stack.infra_env()}
        verified = subprocess.run([sys.executable, "-m", "services.cli", "audit", "verify", "--service", "review",
                                   "--tenant", read["tenant_id"]], env=env, capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0 and "whole" in verified.stdout, verified.stdout + verified.stderr

        async def amended_on_timeline():
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
            entries = [e for e in case.timeline if e.event_type == "opinion.amended"]
            return entries or Pending([e.event_type for e in case.timeline])

        [entry] = await eventually(amended_on_timeline, 30, "the amendment on the case's timeline")
        assert entry.detail == "the opinion was amended: version 2"
        records = await read_topic(stack.kafka_bootstrap, PRODUCES["review"])
        mine = [r.value for r in records if r.key == case_id.encode()]
        assert len(mine) >= 4 and not [v for v in mine if b"CANARY" in v]  # events carry codes only

        # Paging: one at a time, each once; a token it never gave out is refused by field.
        page = await stub.ListAssignments(review_pb2.ListAssignmentsRequest(page_size=1), metadata=assigned)
        assert len(page.assignments) == 1
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.ListAssignments(review_pb2.ListAssignmentsRequest(page_token="bm9wZQ", page_size=900),
                                       metadata=assigned)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error_details_pb2.BadRequest()
        assert rpc_status.from_call(bad.value).details[0].Unpack(details)
        assert {v.field for v in details.field_violations} == {"page_token", "page_size"}
    finally:
        await channel.close()
        await admin.close()
        await submitter.close()
        await mongo.close()



async def test_blind_review_withholds_the_first_opinions_conclusions_until_the_reviewer_assessed_the_case(
        stack, stack_settings):
    settings, place, sid = stack_settings, "US-ME", "me-blind"
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, submitter = clients.submitter(settings, stack.target("intake"), "blind-tenant")
    reviewer, authed = clients.reviewer(settings, stack.target("review"), sid)
    try:
        await list_specialists(directory, admin, place, (sid, 0.9, ""))
        request = case_for("blind", place, blind_review_requested=True)
        case_id = (await intake.SubmitCase(request, metadata=submitter.metadata, timeout=10)).case_id
        assignment = await offer_of(reviewer, authed, case_id)
        assert assignment.blind_review
        req = review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id)
        await reviewer.AcceptAssignment(req, metadata=authed.metadata)
        hidden = await reviewer.GetAssignment(req, metadata=authed.metadata)
        first = hidden.case.first_opinion
        assert hidden.first_opinion_withheld and first.physician.npi == request.first_opinion.physician.npi
        assert not first.rationale and not first.HasField("proposed_treatment") and not first.HasField("diagnosis")
        assert request.first_opinion.rationale.encode() not in hidden.SerializeToString()
        await reviewer.StartReview(req, metadata=authed.metadata)
        with pytest.raises(grpc.aio.AioRpcError) as early:  # its own assessment first
            await reviewer.SubmitOpinion(review_pb2.SubmitOpinionRequest(
                assignment_id=assignment.assignment_id, opinion=clients.opinion(
                    diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE)),
                metadata=authed.metadata)
        assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await reviewer.RecordIndependentAssessment(review_pb2.RecordAssessmentRequest(
            assignment_id=assignment.assignment_id, assessment=review_pb2.IndependentAssessment(
                diagnosis_code="Q21.10", treatment="Percutaneous closure.")), metadata=authed.metadata)
        shown = await reviewer.GetAssignment(req, metadata=authed.metadata)
        assert not shown.first_opinion_withheld and shown.case.first_opinion.rationale == request.first_opinion.rationale
        await reviewer.SubmitOpinion(review_pb2.SubmitOpinionRequest(
            assignment_id=assignment.assignment_id, opinion=clients.opinion(
                diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_REFINED, reviewer_diagnosis_code="Q21.10",
                treatment=case_pb2.TREATMENT_CONCORDANCE_ALTERNATIVE_RECOMMENDED,
                recommendation="Percutaneous closure rather than surgery.")), metadata=authed.metadata)
        [signed] = (await reviewer.GetAssignment(req, metadata=authed.metadata)).opinions
        assert signed.blind and signed.independent_assessment.diagnosis_code == "Q21.10"
        # The assessment and the opinion were recorded as written (the early submission wrote nothing).
        mongo = AsyncMongoClient(stack.mongo_uri)
        try:
            records = await mongo["secondlook_review"]["audit"].find({"case_id": case_id}).sort("seq", 1).to_list()
        finally:
            await mongo.close()
        assert [(r["method"], r["fields"]) for r in records if r["method"] != "GetAssignment"] == [
            ("RecordIndependentAssessment", ["assessment"]), ("SubmitOpinion", ["opinion"])]
    finally:
        await authed.close()
        await admin.close()
        await submitter.close()


async def test_more_information_round_trip_pauses_the_review_until_the_submitter_adds_records(stack, stack_settings):
    """RequestMoreInfo: the questions are kept in intake (the submitter reads them in
    GetCase; never in events), the case goes NEEDS_INFO; the submitter's AddDocuments
    brings it back to IN_REVIEW and review resumes the assignment."""
    settings, place, sid = stack_settings, "US-VT", "vt-info"
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, submitter = clients.submitter(settings, stack.target("intake"), "info-tenant")
    reviewer, authed = clients.reviewer(settings, stack.target("review"), sid)
    question = "CANARY-QUESTION: please send the echocardiogram report of last March."
    receiver = await registered_receiver(settings, stack.target("notify"), "info-tenant")
    try:
        await list_specialists(directory, admin, place, (sid, 0.9, ""))
        request = case_for("info", place)
        case_id = (await intake.SubmitCase(request, metadata=submitter.metadata, timeout=10)).case_id
        assignment = await offer_of(reviewer, authed, case_id)
        req = review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id)
        await reviewer.AcceptAssignment(req, metadata=authed.metadata)
        with pytest.raises(grpc.aio.AioRpcError) as early:  # only once the review is under way
            await reviewer.RequestMoreInfo(review_pb2.RequestMoreInfoRequest(
                assignment_id=assignment.assignment_id, questions=[question]), metadata=authed.metadata)
        assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await reviewer.StartReview(req, metadata=authed.metadata)
        with pytest.raises(grpc.aio.AioRpcError) as empty:
            await reviewer.RequestMoreInfo(review_pb2.RequestMoreInfoRequest(
                assignment_id=assignment.assignment_id, questions=[" ", "x" * 2001]), metadata=authed.metadata)
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error_details_pb2.BadRequest()
        assert rpc_status.from_call(empty.value).details[0].Unpack(details)
        assert [v.field for v in details.field_violations] == ["questions[0]", "questions[1]"]
        waiting = await reviewer.RequestMoreInfo(review_pb2.RequestMoreInfoRequest(
            assignment_id=assignment.assignment_id, questions=[question]), metadata=authed.metadata)
        assert waiting.state == review_pb2.ASSIGNMENT_STATE_NEEDS_INFO
        assert waiting.sla.state == review_pb2.SLA_STATE_PAUSED and 0 < waiting.sla.seconds_left <= 7 * 86400

        async def status_is(*statuses):
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
            return case if case.status in statuses else Pending(case_pb2.CaseStatus.Name(case.status))

        asked = await eventually(lambda: status_is(case_pb2.CASE_STATUS_NEEDS_INFO), 30, "the case NEEDS_INFO")
        assert [list(r.questions) for r in asked.info_requests] == [[question]]
        [paused] = [e for e in asked.timeline if e.event_type == "info.requested"]
        assert "asked 1 question" in paused.detail and re.search(r"the SLA clock pauses with \d+d \d+h left", paused.detail)
        async def told():  # the submitter hears of it: how many questions, never the questions
            notices = [r["payload"] for r in receiver.requests if r["valid"] and r["payload"]
                       and r["payload"]["type"] == "case.needs_info" and r["payload"]["data"]["case_id"] == case_id]
            return notices or Pending(len(receiver.requests))

        [notice] = await eventually(told, 30, "the case.needs_info webhook")
        assert notice["data"]["question_count"] == 1 and "CANARY" not in json.dumps(notice)
        shown = await reviewer.GetAssignment(req, metadata=authed.metadata)  # the reviewer sees what they asked
        assert [list(r.questions) for r in shown.case.info_requests] == [[question]]

        # Only the review service keeps questions with a case: anyone else is refused, nothing kept.
        record = intake_pb2.RecordInfoRequestRequest(case_id=case_id, request_id="forged", specialist_id=sid,
                                                     questions=["Forged question?"])
        for metadata, code in ((submitter.metadata, grpc.StatusCode.PERMISSION_DENIED),
                               (authed.metadata, grpc.StatusCode.PERMISSION_DENIED), ((), grpc.StatusCode.UNAUTHENTICATED)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await intake.RecordInfoRequest(record, metadata=metadata, timeout=10)
            assert refused.value.code() == code
        added = await intake.AddDocuments(intake_pb2.AddDocumentsRequest(case_id=case_id, attachments=[
            intake_pb2.Attachment(uri="https://records.example.org/echo/2026-03", media_type="application/pdf",
                                  size_bytes=20_000, sha256="ab" * 32, title="Echocardiogram")]),
            metadata=submitter.metadata)
        assert added.status == case_pb2.CASE_STATUS_IN_REVIEW

        async def resumed():
            a = (await reviewer.GetAssignment(req, metadata=authed.metadata)).assignment
            return a if a.state == review_pb2.ASSIGNMENT_STATE_IN_REVIEW else Pending(a.state)

        back = await eventually(resumed, 30, "the assignment back IN_REVIEW")
        assert back.sla.state == review_pb2.SLA_STATE_RUNNING and back.sla.HasField("due_at")
        await reviewer.SubmitOpinion(review_pb2.SubmitOpinionRequest(
            assignment_id=assignment.assignment_id, opinion=clients.opinion(
                diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE)),
            metadata=authed.metadata)
        done = await eventually(lambda: status_is(case_pb2.CASE_STATUS_OPINION_READY, case_pb2.CASE_STATUS_DELIVERED),
                                30, "the opinion ready")
        kinds = [e.event_type for e in done.timeline]
        assert kinds.index("info.requested") < kinds.index("documents.added") < kinds.index("opinion.submitted")
        assert "review.resumed" in kinds and done.info_requests[0].HasField("answered_at")
        [started] = [e for e in done.timeline if e.event_type == "assignment.accepted"]
        assert started.detail.startswith("the review's SLA clock started: due ")
        [again] = [e for e in done.timeline if e.event_type == "review.resumed"]
        assert "the SLA clock runs again, due " in again.detail
        records = await read_topic(stack.kafka_bootstrap, PRODUCES["review"])
        assert not [r for r in records if b"CANARY-QUESTION" in r.value]  # the questions never travel in events
    finally:
        await authed.close()
        await admin.close()
        await submitter.close()
        await receiver.stop()

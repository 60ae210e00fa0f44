"""Acceptance: one case through intake, matching, review and notify, over the
real APIs, on the real broker and store, with the services as processes."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from devstack.receiver import registered_receiver
from devstack.simreviewer import SimulatedReviewer
from secondlook.v1 import case_pb2, intake_pb2, review_pb2
from tests.conftest import eventually
from tests.e2e.canaries import plant_canaries

pytestmark = pytest.mark.e2e

TENANT = "mercy-general"
EVERY_STAGE = [
    case_pb2.CASE_STATUS_SUBMITTED, case_pb2.CASE_STATUS_MATCHING, case_pb2.CASE_STATUS_OFFERED,
    case_pb2.CASE_STATUS_ASSIGNED, case_pb2.CASE_STATUS_IN_REVIEW, case_pb2.CASE_STATUS_OPINION_READY,
    case_pb2.CASE_STATUS_DELIVERED,
]


async def test_a_case_flows_to_delivered_with_one_signed_webhook(stack, stack_settings):
    settings = stack_settings
    receiver = await registered_receiver(settings, stack.target("notify"), TENANT)
    intake, intake_auth = clients.submitter(settings, stack.target("intake"), TENANT)
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        request = clients.sample_cases(prefix="flow-")[0]
        # One reviewer, not blind: panels are test_offer_protocol's, blind review test_review_api's.
        request.panel_requested = request.blind_review_requested = False
        submitted = await intake.SubmitCase(request, metadata=intake_auth.metadata, timeout=10)
        assert submitted.created and submitted.status == case_pb2.CASE_STATUS_SUBMITTED

        # Idempotent on the client's key: the same request returns the same case.
        again = await intake.SubmitCase(request, metadata=intake_auth.metadata, timeout=10)
        assert (again.case_id, again.created) == (submitted.case_id, False)

        async def get_case():
            return await intake.GetCase(intake_pb2.GetCaseRequest(case_id=submitted.case_id),
                                        metadata=intake_auth.metadata, timeout=10)

        async def offered():
            case = await get_case()
            return case if case.status >= case_pb2.CASE_STATUS_OFFERED and case.specialist_id else None

        case = await eventually(offered, 60, "the case to be offered to a specialist")
        # Matching honoured the hard rules: the specialist covers oncology and is licensed in US-CA.
        specialist = await mongo["secondlook_matching"]["specialists"].find_one({"_id": case.specialist_id})
        assert "US-CA" in {licence["jurisdiction"] for licence in specialist["licences"]}
        assert set(specialist["specialties"]) & {"207RX0202X", "207RH0003X"}
        assert specialist["free_slots"] < specialist["capacity"]
        slots_while_offered = specialist["free_slots"]

        review, review_auth = clients.reviewer(settings, stack.target("review"), case.specialist_id)
        try:
            async def inbox():
                reply = await review.ListAssignments(review_pb2.ListAssignmentsRequest(),
                                                     metadata=review_auth.metadata, timeout=10)
                return [a for a in reply.assignments if a.case_id == submitted.case_id]

            [assignment] = await eventually(inbox, 30, "the offer in the reviewer's inbox")
            assert assignment.state == review_pb2.ASSIGNMENT_STATE_OFFERED
            assert assignment.diagnosis_code == "C50.911"
            req = review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id)
            accepted = await review.AcceptAssignment(req, metadata=review_auth.metadata, timeout=10)
            assert accepted.state == review_pb2.ASSIGNMENT_STATE_ACCEPTED
            await review.StartReview(req, metadata=review_auth.metadata, timeout=10)
            opinion = clients.opinion(
                diagnosis_concordance=case_pb2.CONCORDANCE_SAME,
                treatment_concordance=case_pb2.CONCORDANCE_REFINED,
                recommendation="Breast-conserving surgery is an option; discuss with the patient.",
                narrative="Reviewed pathology and imaging.", confidence=85,
            )
            done = await review.SubmitOpinion(
                review_pb2.SubmitOpinionRequest(assignment_id=assignment.assignment_id, opinion=opinion),
                metadata=review_auth.metadata, timeout=10)
            assert done.state == review_pb2.ASSIGNMENT_STATE_OPINION_SUBMITTED
        finally:
            await review_auth.close()

        async def delivered():
            # Stages travel on different topics, so the timeline may fill in just after the status.
            case = await get_case()
            complete = case.status == case_pb2.CASE_STATUS_DELIVERED and len(case.timeline) == len(EVERY_STAGE)
            return case if complete else None

        case = await eventually(delivered, 60, "the case to be DELIVERED with every stage in its timeline")
        assert [e.status for e in case.timeline] == EVERY_STAGE
        assert [e.producer for e in case.timeline] == [
            "intake", "matching", "matching", "review", "review", "review", "notify"]

        async def slot_given_back():
            doc = await mongo["secondlook_matching"]["specialists"].find_one({"_id": case.specialist_id})
            return doc["free_slots"] == slots_while_offered + 1

        await eventually(slot_given_back, 30, "the specialist's slot to be given back after the opinion")

        # Exactly one webhook, correctly signed (checked by the reference library).
        await eventually(lambda: asyncio.sleep(0, result=receiver.for_case(submitted.case_id)), 10, "the webhook")
        [hook] = receiver.requests
        assert hook["valid"], "signature did not verify"
        assert hook["payload"]["type"] == "case.opinion_ready"
        assert hook["payload"]["data"]["case_id"] == submitted.case_id
        assert hook["payload"]["data"]["treatment_concordance"] == "REFINED"
        # The notice carries no PHI: nothing from the patient or the narrative.
        for secret in (request.patient.family_name, request.patient.birth_date, "pathology"):
            assert secret.encode() not in hook["body"]
        # The last hop, which no consumer's handling causes, is in notify's stage histogram too.
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{stack.metrics_ports['notify']}/metrics").read())
        assert b'secondlook_stage_seconds_count{from="opinion.submitted",to="opinion.delivered"}' in metrics
    finally:
        await intake_auth.close()
        await receiver.stop()
        await mongo.close()


async def test_no_phi_leaves_intake_in_events_or_logs(stack, stack_settings):
    """Kafka payloads and every service log carry ids and codes, never the patient."""
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "phi-check")
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        request = clients.sample_cases(prefix="phi-")[0]
        canaries = plant_canaries(request)
        reply = await intake.SubmitCase(request, metadata=authed.metadata, timeout=10)

        async def outbox_has_it():
            return await mongo["secondlook_intake"]["outbox"].find_one({"case_id": reply.case_id})

        event = await eventually(outbox_has_it, 10, "the case.submitted event in intake's outbox")
        for canary in canaries:
            assert canary.encode() not in bytes(event["payload"]), canary

        async def matched():
            return await mongo["secondlook_matching"]["assignments"].find_one({"case_id": reply.case_id})

        await eventually(matched, 30, "matching to react to the case")
        for proc in stack.services.values():
            log = proc.log_path.read_text()
            assert not [c for c in canaries if c in log], f"PHI in {proc.name}'s log"
    finally:
        await authed.close()
        await mongo.close()


async def test_a_receiver_that_was_down_still_gets_its_notice_once(stack, stack_settings):
    """Retries with backoff, a delivery that gave up, and the redrive that re-arms it."""
    tenant = "flaky-receiver"
    receiver = await registered_receiver(stack_settings, stack.target("notify"), tenant)
    receiver.refuse_with = 503
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), tenant)
    reviewer = SimulatedReviewer(stack_settings, stack.target("review"), clients.specialist_ids()).start()
    mongo = AsyncMongoClient(stack.mongo_uri)
    deliveries = mongo["secondlook_notify"]["deliveries"]
    try:
        reply = await intake.SubmitCase(clients.sample_cases(prefix="flaky-")[5], metadata=authed.metadata)

        async def gave_up():
            return await deliveries.find_one({"case_id": reply.case_id, "status": "dead", "channel": "webhook"})

        dead = await eventually(gave_up, 60, "the delivery to give up after its attempts")
        assert dead["attempts"] == 2 and "503" in dead["last_error"]
        receiver.refuse_with = None  # the receiver is back

        async def delivered():
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id), metadata=authed.metadata)
            return case.status == case_pb2.CASE_STATUS_DELIVERED

        await eventually(delivered, 90, "the re-driven delivery to reach the receiver")
        assert receiver.per_case()[reply.case_id] == 1
        # Every attempt carried the same webhook-id, so a receiver can drop repeats.
        ids = {r["headers"]["webhook-id"] for r in receiver.requests if reply.case_id.encode() in r["body"]}
        assert len(ids) == 1 and len(receiver.refused) >= 2
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{stack.metrics_ports['notify']}/metrics").read())
        dead = re.search(rb'secondlook_delivery_attempts_total\{channel="webhook",outcome="dead",service="notify"\} '
                         rb'([0-9.]+)', metrics)
        assert dead and float(dead.group(1)) >= 1  # declared at 0 when notify starts: counted since
    finally:
        await reviewer.stop()
        await authed.close()
        await receiver.stop()
        await mongo.close()


async def test_a_complete_case_reads_back_whole_to_its_own_tenant(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "whole-case")
    try:
        request = clients.sample_cases(prefix="whole-")[0]
        reply = await intake.SubmitCase(request, metadata=authed.metadata, timeout=10)
        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id), metadata=authed.metadata)
        expected = intake_pb2.FirstOpinion()
        expected.CopyFrom(request.first_opinion)
        expected.diagnosis.code = request.diagnosis_code  # a first opinion without one shares the primary
        expected.diagnosis.text = request.diagnosis_text
        assert case.first_opinion == expected
        for name in ("patient", "secondary_diagnoses", "attachments", "diagnosis_text",
                     "clinical_question", "panel_requested", "blind_review_requested", "language", "jurisdiction"):
            assert getattr(case, name) == getattr(request, name), name
        assert case.kind == case_pb2.CASE_KIND_SECOND_OPINION
        assert (case.consent.scope, case.consent.recorded_by) == (request.consent.scope, request.consent.recorded_by)
        assert case.consent.granted_at.ToDatetime() == request.consent.granted_at.ToDatetime().replace(
            microsecond=request.consent.granted_at.ToDatetime().microsecond // 1000 * 1000)  # stored to the ms
    finally:
        await authed.close()

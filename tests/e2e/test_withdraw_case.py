"""Acceptance: a withdrawn case is released by every service downstream: the
specialist's slot and the open offer (matching, review), the notices not yet
delivered (notify). Withdrawing needs a reason and the case's own tenant."""

from __future__ import annotations

import grpc
import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from devstack.receiver import registered_receiver
from secondlook.v1 import case_pb2, intake_pb2, review_pb2
from tests.conftest import eventually

pytestmark = pytest.mark.e2e

TENANT = "tenant-withdraw"
WITHDRAWN = case_pb2.CASE_STATUS_WITHDRAWN
REASON = case_pb2.WITHDRAWAL_REASON_TREATMENT_DECIDED


async def _case(intake, authed, case_id) -> intake_pb2.Case:
    return await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=authed.metadata, timeout=10)


async def test_withdrawing_an_offered_case_gives_the_slot_back_and_withdraws_the_offer(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), TENANT)
    mongo = AsyncMongoClient(stack.mongo_uri)
    specialists = mongo["secondlook_matching"]["specialists"]
    try:
        reply = await intake.SubmitCase(clients.numbered_cases("withdraw-offered", 1)[0],
                                        metadata=authed.metadata, timeout=10)

        async def offered():
            case = await _case(intake, authed, reply.case_id)
            return case if case.specialist_id else None

        case = await eventually(offered, 60, "the case offered to a specialist")
        assignment = await eventually(
            lambda: mongo["secondlook_review"]["assignments"].find_one({"case_id": reply.case_id}), 30,
            "the offer in the reviewer's inbox")
        held = await specialists.find_one({"_id": case.specialist_id})
        assert assignment["_id"] in held["holding"]

        withdrawn = await intake.WithdrawCase(
            intake_pb2.WithdrawCaseRequest(case_id=reply.case_id, reason=REASON, note="Surgery already scheduled"),
            metadata=authed.metadata, timeout=10)
        assert withdrawn.status == WITHDRAWN and withdrawn.withdrawal_reason == REASON
        assert not withdrawn.withdrawal_note  # the reply carries no PHI; GetCase does, to its tenant
        assert (await _case(intake, authed, reply.case_id)).withdrawal_note == "Surgery already scheduled"

        async def released():
            doc = await specialists.find_one({"_id": case.specialist_id})
            return doc if assignment["_id"] not in doc["holding"] else None

        after = await eventually(released, 30, "the specialist's slot given back")
        assert after["free_slots"] == held["free_slots"] + 1

        review, review_auth = clients.reviewer(stack_settings, stack.target("review"), case.specialist_id)
        try:
            async def offer_withdrawn():
                doc = await mongo["secondlook_review"]["assignments"].find_one({"_id": assignment["_id"]})
                return doc["state"] == review_pb2.ASSIGNMENT_STATE_WITHDRAWN

            await eventually(offer_withdrawn, 30, "the offer withdrawn from the reviewer's inbox")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await review.AcceptAssignment(review_pb2.AssignmentRequest(assignment_id=assignment["_id"]),
                                              metadata=review_auth.metadata, timeout=10)
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "WITHDRAWN" in info.value.details()
        finally:
            await review_auth.close()
        final = await _case(intake, authed, reply.case_id)
        assert final.status == WITHDRAWN and final.timeline[-1].event_type == "case.withdrawn"
        # Again: the same case, nothing more.
        again = await intake.WithdrawCase(intake_pb2.WithdrawCaseRequest(case_id=reply.case_id, reason=REASON),
                                          metadata=authed.metadata, timeout=10)
        assert again.status == WITHDRAWN and len(again.timeline) == len(final.timeline)
    finally:
        await authed.close()
        await mongo.close()


async def test_withdrawing_a_case_whose_opinion_is_not_yet_delivered_cancels_the_notice(stack, stack_settings):
    receiver = await registered_receiver(stack_settings, stack.target("notify"), TENANT + "-2")
    receiver.refuse_with = 503  # the tenant's endpoint is down: the notice waits for another attempt
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), TENANT + "-2")
    mongo = AsyncMongoClient(stack.mongo_uri)
    deliveries = mongo["secondlook_notify"]["deliveries"]
    try:
        reply = await intake.SubmitCase(clients.numbered_cases("withdraw-ready", 1)[0],
                                        metadata=authed.metadata, timeout=10)
        offer = await eventually(
            lambda: mongo["secondlook_review"]["assignments"].find_one({"case_id": reply.case_id}), 60,
            "the offer in the reviewer's inbox")
        review, review_auth = clients.reviewer(stack_settings, stack.target("review"), offer["specialist_id"])
        try:
            request = review_pb2.AssignmentRequest(assignment_id=offer["_id"])
            await review.AcceptAssignment(request, metadata=review_auth.metadata, timeout=10)
            await review.StartReview(request, metadata=review_auth.metadata, timeout=10)
            opinion = clients.opinion(
                diagnosis_concordance=case_pb2.CONCORDANCE_SAME, treatment_concordance=case_pb2.CONCORDANCE_SAME,
                recommendation="Proceed.", confidence=80)
            await review.SubmitOpinion(review_pb2.SubmitOpinionRequest(assignment_id=offer["_id"], opinion=opinion),
                                       metadata=review_auth.metadata, timeout=10)
        finally:
            await review_auth.close()

        async def refused_once():
            doc = await deliveries.find_one({"case_id": reply.case_id, "channel": "webhook"})
            return doc if doc and doc["attempts"] >= 1 and doc["status"] in ("pending", "dead") else None

        await eventually(refused_once, 30, "a refused delivery attempt")
        assert any(r.get("refused") for r in receiver.requests)
        await intake.WithdrawCase(intake_pb2.WithdrawCaseRequest(case_id=reply.case_id, reason=REASON),
                                  metadata=authed.metadata, timeout=10)

        async def cancelled():
            doc = await deliveries.find_one({"case_id": reply.case_id, "channel": "webhook"})
            return doc if doc["status"] == "cancelled" else None

        doc = await eventually(cancelled, 60, "the undelivered notice cancelled")
        assert "next_attempt_at" not in doc
        assert (await _case(intake, authed, reply.case_id)).status == WITHDRAWN
    finally:
        await receiver.stop()
        await authed.close()
        await mongo.close()


async def test_withdrawing_needs_a_reason_and_the_cases_own_tenant(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), TENANT)
    outsider, outsider_auth = clients.submitter(stack_settings, stack.target("intake"), "another-tenant")
    try:
        reply = await intake.SubmitCase(clients.sample_cases(prefix="withdraw-refused-")[1],
                                        metadata=authed.metadata, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await intake.WithdrawCase(intake_pb2.WithdrawCaseRequest(case_id=reply.case_id),
                                      metadata=authed.metadata, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in info.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await outsider.WithdrawCase(intake_pb2.WithdrawCaseRequest(case_id=reply.case_id, reason=REASON),
                                        metadata=outsider_auth.metadata, timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        case = await _case(intake, authed, reply.case_id)
        assert case.status != WITHDRAWN and not case.withdrawal_reason
    finally:
        await authed.close()
        await outsider_auth.close()

"""Acceptance: calls without a valid token are refused, bad input is refused
naming the field and rule with nothing stored, and tenants are isolated."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from pymongo import AsyncMongoClient

from devstack import clients
from secondlook.auth import mint_token
from secondlook.settings import Settings
from secondlook.v1 import (
    intake_pb2,
    intake_pb2_grpc,
    matching_pb2,
    notify_pb2,
    notify_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from tests.conftest import eventually

pytestmark = pytest.mark.e2e


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
async def test_calls_without_a_valid_token_are_unauthenticated(stack, authorization):
    metadata = (("authorization", authorization),) if authorization else ()
    async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        error = await _refused(stub.GetCase(intake_pb2.GetCaseRequest(case_id="x"), metadata=metadata))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        error = await _refused(stub.SubmitCase(clients.sample_cases()[0], metadata=metadata))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    async with grpc.aio.insecure_channel(stack.target("review")) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        error = await _refused(stub.ListAssignments(review_pb2.ListAssignmentsRequest(), metadata=metadata))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_two_authorization_entries_are_unauthenticated_whichever_is_valid(stack, stack_settings):
    valid = f"Bearer {mint_token(stack_settings, subject='a', tenant='tenant-a', roles=['submitter'])}"
    other = f"Bearer {mint_token(stack_settings, subject='b', tenant='tenant-b', roles=['submitter'])}"
    async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        for first, second in ((valid, other), ("Bearer junk", valid)):
            error = await _refused(stub.ListCases(intake_pb2.ListCasesRequest(),
                                                  metadata=(("authorization", first), ("authorization", second))))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "send one 'authorization: Bearer <token>' metadata, not 2" in error.details()
        await stub.ListCases(intake_pb2.ListCasesRequest(), metadata=(("authorization", valid),))


async def test_a_token_signed_with_another_key_is_unauthenticated(stack):
    forged = mint_token(Settings(jwt_secret="some-other-key-entirely-0123456789abcdef"),
                        subject="mallory", tenant="mercy-general", roles=["submitter"])
    async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        error = await _refused(stub.GetCase(intake_pb2.GetCaseRequest(case_id="x"),
                                         metadata=(("authorization", f"Bearer {forged}"),)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Signature" in error.details()


async def test_health_and_reflection_need_no_token(stack):
    for name in stack.services:
        async with grpc.aio.insecure_channel(stack.target(name)) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_malformed_submission_names_the_fields_and_stores_nothing(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "bad-input")
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        cases = mongo["secondlook_intake"]["cases"]
        outbox = mongo["secondlook_intake"]["outbox"]
        # Counted by what only SubmitCase writes: the sweeper keeps writing redrive requests.
        submitted = {"type": "case.submitted"}
        before = (await cases.count_documents({}), await outbox.count_documents(submitted))
        request = clients.sample_cases(prefix="bad-")[0]
        request.diagnosis_code = "XYZ.123"
        request.jurisdiction = "California"
        request.consent.granted = False
        error = await _refused(intake.SubmitCase(request, metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "diagnosis_code" in error.details()
        status = rpc_status.from_call(error)
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad)
        fields = {v.field: v.description for v in bad.field_violations}
        assert set(fields) == {"diagnosis_code", "jurisdiction", "consent.granted"}
        assert "ICD-10-CM" in fields["diagnosis_code"]
        assert (await cases.count_documents({}), await outbox.count_documents(submitted)) == before
    finally:
        await authed.close()
        await mongo.close()


async def test_an_oversized_request_is_refused(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "bad-input")
    try:
        request = clients.sample_cases(prefix="huge-")[0]
        request.clinical_question = "x" * (5 * 1024 * 1024)
        error = await _refused(intake.SubmitCase(request, metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await authed.close()


async def test_lists_past_the_rules_are_refused_at_once_naming_them_and_the_refusal_reaches_the_client(
        stack, stack_settings):
    """A 2.4 MB request of 100,000 identifiers (under the message limit) once held intake's
    loop for ten minutes; twenty bad attachments made a refusal too large for the
    client's trailers (RESOURCE_EXHAUSTED, no field named)."""
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "bad-input")
    try:
        request = clients.sample_cases(prefix="many-")[0]
        for i in range(100_000):
            request.patient.identifiers.add(system="urn:oid:1.2", value=str(i), type="MR")
        error = await _refused(intake.SubmitCase(request, metadata=authed.metadata, timeout=20))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert error.details() == "patient.identifiers: must have at most 1000 entries"
        request = clients.sample_cases(prefix="attachments-")[0]
        del request.attachments[:]
        for i in range(40):
            request.attachments.add(uri=f"http://records.example.org/{i}" + "/x" * 40, media_type="application/msword",
                                    size_bytes=0, sha256="no")
        error = await _refused(intake.SubmitCase(request, metadata=authed.metadata, timeout=20))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        bad = error_details_pb2.BadRequest()
        assert rpc_status.from_call(error).details[0].Unpack(bad)
        assert bad.field_violations[0].field == "attachments[0].uri" and len(bad.field_violations) <= 20
        assert error.details().endswith("more violations (correct these and send it again)")
    finally:
        await authed.close()


async def test_another_tenants_case_is_not_found(stack, stack_settings):
    owner, owner_auth = clients.submitter(stack_settings, stack.target("intake"), "tenant-a")
    other, other_auth = clients.submitter(stack_settings, stack.target("intake"), "tenant-b")
    try:
        reply = await owner.SubmitCase(clients.sample_cases(prefix="iso-")[2], metadata=owner_auth.metadata)
        assert (await owner.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id),
                                    metadata=owner_auth.metadata)).case_id == reply.case_id
        error = await _refused(other.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id),
                                          metadata=other_auth.metadata))
        assert error.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await owner_auth.close()
        await other_auth.close()


async def test_a_reviewer_cannot_touch_another_reviewers_assignment(stack, stack_settings):
    intake, intake_auth = clients.submitter(stack_settings, stack.target("intake"), "tenant-c")
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        reply = await intake.SubmitCase(clients.sample_cases(prefix="rev-")[3], metadata=intake_auth.metadata)

        async def assignment():
            return await mongo["secondlook_review"]["assignments"].find_one({"case_id": reply.case_id})

        doc = await eventually(assignment, 30, "the offer to reach review")
        intruder, intruder_auth = clients.reviewer(stack_settings, stack.target("review"), "spec-999")
        try:
            error = await _refused(intruder.AcceptAssignment(
                review_pb2.AssignmentRequest(assignment_id=doc["_id"]), metadata=intruder_auth.metadata))
            assert error.code() == grpc.StatusCode.NOT_FOUND
        finally:
            await intruder_auth.close()
        owner, owner_auth = clients.reviewer(stack_settings, stack.target("review"), doc["specialist_id"])
        try:  # skipping a step is refused, never applied
            error = await _refused(owner.SubmitOpinion(review_pb2.SubmitOpinionRequest(
                assignment_id=doc["_id"], opinion=clients.opinion(
                    diagnosis_concordance=1, treatment_concordance=1, recommendation="r")),
                metadata=owner_auth.metadata))
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "IN_REVIEW" in error.details()
        finally:
            await owner_auth.close()
    finally:
        await intake_auth.close()
        await mongo.close()


async def test_a_submitter_token_cannot_use_the_reviewer_api(stack, stack_settings):
    token = mint_token(stack_settings, subject="coord", tenant="tenant-a", roles=["submitter"])
    async with grpc.aio.insecure_channel(stack.target("review")) as channel:
        error = await _refused(review_pb2_grpc.ReviewServiceStub(channel).ListAssignments(
            review_pb2.ListAssignmentsRequest(), metadata=(("authorization", f"Bearer {token}"),)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_webhook_registration_checks_the_url_and_the_role(stack, stack_settings):
    notify, authed = clients.tenant_admin(stack_settings, stack.target("notify"), "tenant-d")
    try:
        error = await _refused(notify.RegisterWebhook(notify_pb2.RegisterWebhookRequest(url="ftp://example.org/x"),
                                                      metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("url:")
    finally:
        await authed.close()
    token = mint_token(stack_settings, subject="coord", tenant="tenant-d", roles=["submitter"])
    async with grpc.aio.insecure_channel(stack.target("notify")) as channel:
        error = await _refused(notify_pb2_grpc.NotifyServiceStub(channel).RegisterWebhook(
            notify_pb2.RegisterWebhookRequest(url="https://hooks.example.org/x"),
            metadata=(("authorization", f"Bearer {token}"),)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


UNDECODABLE = {
    "bad UTF-8 in a string": bytes.fromhex("0a02fffe"),
    "truncated": b"\x12\x05\x0a\x03ab",
    "wire type 6": b"\x0e\x00",
    "nesting too deep": b"\x5b" * 300 + b"\x5c" * 300,
}


@pytest.mark.parametrize("raw", UNDECODABLE.values(), ids=UNDECODABLE.keys())
async def test_undecodable_requests_are_invalid_argument_after_authentication(stack, stack_settings, raw):
    token = mint_token(stack_settings, subject="coord", tenant="tenant-raw", roles=["submitter"])
    async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
        submit = channel.unary_unary("/secondlook.v1.IntakeService/SubmitCase")  # raw bytes in, raw bytes out
        error = await _refused(submit(raw))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # who asks comes first
        error = await _refused(submit(raw, metadata=(("authorization", f"Bearer {token}"),)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == ("request: not a valid secondlook.v1.SubmitCaseRequest "
                               "(the protobuf bytes could not be decoded)")


async def test_control_characters_are_refused_in_every_text_field_and_nothing_is_stored(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "tenant-ctl")
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        cases = mongo["secondlook_intake"]["cases"]
        before = await cases.count_documents({"tenant_id": "tenant-ctl"})
        request = clients.sample_cases(prefix="ctl-")[0]
        request.patient.given_name = "Ada\x00"
        request.patient.family_name = "\x1b[31mLovelace"
        request.first_opinion.proposed_treatment.text = "Lumpectomy \u202eylno\u202c"
        request.first_opinion.physician.family_name = "Synth\u200bcare"
        request.attachments[0].title = "Pathology\x07"
        request.language = "en\x85"
        error = await _refused(intake.SubmitCase(request, metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = error_details_pb2.BadRequest()
        assert rpc_status.from_call(error).details[0].Unpack(bad)
        assert [v.field for v in bad.field_violations] == [
            "patient.given_name", "patient.family_name", "language", "first_opinion.physician.family_name",
            "first_opinion.proposed_treatment.text", "attachments[0].title"]
        assert await cases.count_documents({"tenant_id": "tenant-ctl"}) == before

        prose = clients.sample_cases(prefix="ctl-ok-")[0]
        prose.first_opinion.proposed_treatment.text = "Lumpectomy.\n\tThen adjuvant radiotherapy."  # prose
        prose.clinical_question = "Is surgery needed?\nOr radiotherapy alone?"
        prose.patient.birth_date = "19680412"  # the basic form is stored in the one form
        reply = await intake.SubmitCase(prose, metadata=authed.metadata)
        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id), metadata=authed.metadata)
        assert case.patient.birth_date == "1968-04-12"
    finally:
        await authed.close()
        await mongo.close()


async def _raw_refusal(channel, method, metadata, payload: bytes) -> grpc.StatusCode:
    """The code a method answers to `payload` (raw request bytes), unary or streaming."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    if method.server_streaming:
        call = channel.unary_stream(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)(
            payload, metadata=metadata, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call:
                pass
        return info.value.code()
    call = channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return (await _refused(call(payload, metadata=metadata, timeout=10))).code()


async def _probe_every_method(channel, service, wrong_role: str, allowed: str) -> None:
    """Every method of `service`: no token is UNAUTHENTICATED, `wrong_role`'s token
    PERMISSION_DENIED, and undecodable bytes under `allowed`'s token INVALID_ARGUMENT."""
    for method in service.methods:
        assert await _raw_refusal(channel, method, (), b"") == grpc.StatusCode.UNAUTHENTICATED, method.name
        assert await _raw_refusal(channel, method, (("authorization", f"Bearer {wrong_role}"),), b"") == \
            grpc.StatusCode.PERMISSION_DENIED, method.name
        assert await _raw_refusal(channel, method, (("authorization", f"Bearer {allowed}"),), b"\x0a\xff\xff") == \
            grpc.StatusCode.INVALID_ARGUMENT, method.name


async def test_every_intake_method_refuses_no_token_the_wrong_role_and_undecodable_bytes(stack, stack_settings):
    reviewer = mint_token(stack_settings, subject="r", tenant="mercy-general", roles=["reviewer"], specialist_id="s")
    submitter = mint_token(stack_settings, subject="c", tenant="mercy-general", roles=["submitter"])
    service = intake_pb2.DESCRIPTOR.services_by_name["IntakeService"]
    assert {m.name for m in service.methods} >= {"WatchCase", "WithdrawCase", "AddDocuments", "ListCases"}
    async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
        await _probe_every_method(channel, service, reviewer, submitter)


async def test_every_matching_method_refuses_no_token_the_wrong_role_and_undecodable_bytes(stack, stack_settings):
    reviewer = mint_token(stack_settings, subject="r", tenant="mercy-general", roles=["reviewer"], specialist_id="s")
    admin = mint_token(stack_settings, subject="a", tenant="secondlook-operations", roles=["directory-admin"])
    service = matching_pb2.DESCRIPTOR.services_by_name["MatchingService"]
    assert {m.name for m in service.methods} >= {"UpsertSpecialist", "ImportSpecialists", "ExplainMatch",
                                                 "GetSpecialistContact"}
    async with grpc.aio.insecure_channel(stack.target("matching")) as channel:
        await _probe_every_method(channel, service, reviewer, admin)


async def test_every_notify_method_refuses_no_token_the_wrong_role_undecodable_bytes_and_control_characters(
        stack, stack_settings):
    # (A reviewer may manage their own notification preferences, a directory-admin a reviewer's:
    # review's service identity nothing here.)
    outsider = mint_token(stack_settings, subject="service:review", tenant="secondlook-services",
                          roles=["case-reader"])
    admin = mint_token(stack_settings, subject="a", tenant="tenant-raw", roles=["tenant-admin"])
    service = notify_pb2.DESCRIPTOR.services_by_name["NotifyService"]
    assert {m.name for m in service.methods} >= {"CreateEndpoint", "RotateSecret", "ListDeliveries", "RetryDelivery",
                                                 "SetNotificationPreferences"}
    async with grpc.aio.insecure_channel(stack.target("notify")) as channel:
        await _probe_every_method(channel, service, outsider, admin)
        as_admin = (("authorization", f"Bearer {admin}"),)
        stub = notify_pb2_grpc.NotifyServiceStub(channel)
        error = await _refused(stub.CreateEndpoint(notify_pb2.CreateEndpointRequest(
            url="https://hooks.example.org/x", description="Claims\u202eteam"), metadata=as_admin))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "description" in error.details()
        listed = await stub.ListEndpoints(notify_pb2.ListEndpointsRequest(), metadata=as_admin)
        assert not listed.endpoints  # nothing written

"""Acceptance (issue 12, prior authorization) over the real broker and store: a Da
Vinci PAS request posted to Claim/$submit is answered pended (A4) under the case id;
matching offers it to a reviewer qualified for the requested services only; the
reviewer decides item by item (a denial without a specific reason is refused with
field violations); the submitter's webhook receives the signed ClaimResponse with the
X12 review actions and reasons, and $inquire returns the same. An expedited request
whose (configured, short) CMS clock ran out breaches and is escalated."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import aiohttp
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from devstack import clients
from devstack.receiver import WebhookReceiver
from secondlook.auth import mint_token
from secondlook.v1 import case_pb2, intake_pb2, matching_pb2, notify_pb2, review_pb2
from tests.conftest import Pending, eventually
from tests.e2e.specialists import npi_of, offer_of

pytestmark = pytest.mark.e2e

PAS = Path(__file__).parents[1] / "data" / "fhir" / "pas"
TENANT = "payer-pa-e2e"
ORTHOPAEDICS, RHEUMATOLOGY = "207X00000X", "207RR0500X"
KNEE_REPLACEMENT, JOINT_INJECTION = "27447", "20610"
CPT = "http://www.ama-assn.org/go/cpt"
EXT = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"


def pas_request(place: str, *, expedited: bool) -> dict:
    """The PAS test kit's conformant request, made this test's own: its ids, the state
    that assigned its trace number, a knee osteoarthritis asking for a knee replacement
    and three joint injections."""
    bundle = json.loads((PAS / "conformant_pas_bundle_v110.json").read_text())
    bundle["identifier"]["value"] = f"tx-{uuid.uuid4().hex[:12]}"
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] = f"trace-{uuid.uuid4().hex[:12]}"
    for ext in claim["identifier"][0]["extension"]:
        if ext["url"].endswith("identifierJurisdiction"):
            ext["valueCodeableConcept"]["coding"][0]["code"] = place
    if not expedited:
        claim["extension"] = [e for e in claim.get("extension", []) if not e["url"].endswith("levelOfServiceCode")]
        claim["priority"]["coding"][0]["code"] = "normal"
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "M17.11"
    first = claim["item"][0]
    first["productOrService"] = {"coding": [{"system": CPT, "code": KNEE_REPLACEMENT}]}
    second = copy.deepcopy(first)
    second["sequence"] = 2
    second["productOrService"] = {"coding": [{"system": CPT, "code": JOINT_INJECTION}]}
    second["quantity"] = {"value": 3}
    for ext in second["extension"]:
        if ext["url"] == f"{EXT}/extension-itemTraceNumber":
            ext["valueIdentifier"]["value"] = "2233445"
    claim["item"].append(second)
    return bundle


async def post(base: str, settings, operation: str, bundle: dict, tenant: str = TENANT) -> tuple[int, dict]:
    token = mint_token(settings, subject="um-pipeline@payer.example", tenant=tenant, roles=["submitter"])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        async with http.post(f"{base}/Claim/{operation}", data=json.dumps(bundle).encode(),
                             headers={"Content-Type": "application/fhir+json",
                                      "Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json(content_type=None)


def review_actions(bundle: dict) -> list[tuple[int, str, str]]:
    """(item sequence, X12 review action, reason note) of each item of the ClaimResponse."""
    response = bundle["entry"][0]["resource"]
    assert response["resourceType"] == "ClaimResponse"
    notes = {n["number"]: n["text"] for n in response.get("processNote", [])}
    found = []
    for item in response["item"]:
        parts = {p["url"].rsplit("-", 1)[-1]: p for p in item["adjudication"][0]["extension"][0]["extension"]}
        code = parts["reviewActionCode"]["valueCodeableConcept"]["coding"][0]["code"]
        found.append((item["itemSequence"], code, notes[item["noteNumber"][0]] if item.get("noteNumber") else ""))
    return found


async def list_orthopaedics(directory, admin, place: str, *people: tuple[str, str, float]) -> None:
    """Specialists (id, specialty, quality) who take prior authorizations in `place`."""
    for sid, specialty, quality in people:
        msg = matching_pb2.Specialist(
            specialist_id=sid, npi=npi_of(sid), display_name=f"Dr. {sid} (synthetic)", specialties=[specialty],
            licences=[matching_pb2.Licence(jurisdiction=place, expires="2099-12-31")],
            certifications=[matching_pb2.Certification(board="ABOS", specialty=specialty, expires="2099-12-31")],
            languages=["en"], capacity=3, accepting=True, turnaround_days=2.0, quality=quality,
            case_kinds=[case_pb2.CASE_KIND_SECOND_OPINION, case_pb2.CASE_KIND_PRIOR_AUTH])
        await directory.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=msg), metadata=admin.metadata)


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    return [v.field for v in bad.field_violations]
    return []


async def test_a_pas_request_is_decided_by_a_qualified_reviewer_and_the_claim_response_reaches_the_submitter(
        stack, stack_settings):
    settings, base = stack_settings, stack.fhir_base()
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    notify, notify_authed = clients.tenant_admin(settings, stack.target("notify"), TENANT)
    surgeon, surgeon_authed = clients.reviewer(settings, stack.target("review"), "nv-ortho")
    rheum, rheum_authed = clients.reviewer(settings, stack.target("review"), "nv-rheum")
    intake, submitter = clients.submitter(settings, stack.target("intake"), TENANT)
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        # The rheumatologist covers the diagnosis and scores higher, but may not decide a knee replacement.
        await list_orthopaedics(directory, admin, "US-NV", ("nv-rheum", RHEUMATOLOGY, 1.0),
                                ("nv-ortho", ORTHOPAEDICS, 0.5))
        created = await notify.CreateEndpoint(notify_pb2.CreateEndpointRequest(
            url=receiver.url, event_types=["case.opinion_ready"], description="UM decisions"),
            metadata=notify_authed.metadata)
        receiver.secret = created.secret

        request = pas_request("NV", expedited=False)
        status, pended = await post(base, settings, "$submit", request)
        assert status == 200, pended
        case_id = pended["entry"][0]["resource"]["preAuthRef"]
        assert [action for _, action, _ in review_actions(pended)] == ["A4", "A4"]
        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
        assert case.kind == case_pb2.CASE_KIND_PRIOR_AUTH and case.jurisdiction == "US-NV"
        assert [(i.system, i.code, i.quantity) for i in case.prior_auth.items] == [
            ("CPT", KNEE_REPLACEMENT, 1.0), ("CPT", JOINT_INJECTION, 3.0)]

        offer = await offer_of(surgeon, surgeon_authed, case_id)
        assert offer.specialty == ORTHOPAEDICS
        req = review_pb2.AssignmentRequest(assignment_id=offer.assignment_id)
        await surgeon.AcceptAssignment(req, metadata=surgeon_authed.metadata)
        await surgeon.StartReview(req, metadata=surgeon_authed.metadata)
        detail = await surgeon.GetAssignment(req, metadata=surgeon_authed.metadata)
        items = [s.key for s in detail.case.requested_services]
        assert [s.code for s in detail.case.requested_services] == [KNEE_REPLACEMENT, JOINT_INJECTION]

        def decide(*decisions):
            return surgeon.DecidePriorAuth(review_pb2.DecidePriorAuthRequest(
                assignment_id=offer.assignment_id, decisions=list(decisions)), metadata=surgeon_authed.metadata)

        approve = case_pb2.ItemDecision(item_key=items[0], action=case_pb2.ITEM_ACTION_APPROVE)
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # a denial without a specific reason
            await decide(approve, case_pb2.ItemDecision(item_key=items[1], action=case_pb2.ITEM_ACTION_DENY))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(refused.value) == ["decisions[1].reason_code", "decisions[1].provider_text"]
        for bad, field in ((case_pb2.ItemDecision(item_key=items[1], action=case_pb2.ITEM_ACTION_DENY,
                                                  reason_code="NOT_MEDICALLY\u0007NECESSARY", provider_text="x"),
                            "decisions[1].reason_code"),
                           (case_pb2.ItemDecision(item_key=items[1], action=case_pb2.ITEM_ACTION_DENY,
                                                  reason_code="NOT_MEDICALLY_NECESSARY", provider_text="x" * 50_000),
                            "decisions[1].provider_text")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:  # control characters, oversized text
                await decide(approve, bad)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in violations(refused.value)
        deny = case_pb2.ItemDecision(
            item_key=items[1], action=case_pb2.ITEM_ACTION_DENY, reason_code="QUANTITY_EXCEEDS_GUIDELINES",
            provider_text="Three injections before the arthroplasty exceed the guideline; one is covered.",
            patient_text="The plan covers one injection before your surgery, not three.")
        decided = await decide(approve, deny)
        assert decided.state == review_pb2.ASSIGNMENT_STATE_OPINION_SUBMITTED

        async def claim_response_delivered():
            found = [r["payload"] for r in receiver.for_case(case_id) if "claim_response" in r["payload"]["data"]]
            return found[0] if found else Pending(len(receiver.requests))

        notice = await eventually(claim_response_delivered, 60, "the signed ClaimResponse at the submitter's endpoint")
        assert notice["type"] == "case.opinion_ready" and receiver.rejected == 0  # signature verified
        assert notice["data"]["review_actions"] == [
            {"item": items[0], "review_action": "A1"},
            {"item": items[1], "review_action": "A3", "reason_code": "QUANTITY_EXCEEDS_GUIDELINES"}]
        claim_response = notice["data"]["claim_response"]
        assert claim_response["resourceType"] == "ClaimResponse" and claim_response["preAuthRef"] == case_id
        assert case.prior_auth.member_id not in json.dumps(notice)  # the webhook names no patient
        assert case.patient.family_name not in json.dumps(notice)
        delivered = review_actions({"entry": [{"resource": claim_response}]})
        assert [(seq, action) for seq, action, _ in delivered] == [(1, "A1"), (2, "A3")]
        # The webhook carries the reason's code, not the reviewer's words: $inquire has them.
        assert delivered[1][2] == "QUANTITY_EXCEEDS_GUIDELINES" and "guideline" not in json.dumps(notice)

        inquiry = copy.deepcopy(request)
        for key in ("item", "diagnosis", "supportingInfo"):
            inquiry["entry"][0]["resource"].pop(key, None)

        async def inquired():  # intake records review's announcement as it consumes it: moments later at most
            status, answered = await post(base, settings, "$inquire", inquiry)
            assert status == 200, answered
            decided = {action for _, action, _ in review_actions(answered)} != {"A4"}
            return answered if decided else Pending("pended")

        answered = await eventually(inquired, 30, "$inquire answering with the decision")
        inquired_response = answered["entry"][0]["resource"]
        assert {k: v for k, v in inquired_response.items() if k != "processNote"} == {
            k: v for k, v in claim_response.items() if k != "processNote"}  # the same ClaimResponse, with the words
        assert "exceed the guideline" in review_actions(answered)[1][2]
        status, _ = await post(base, settings, "$inquire", inquiry, tenant="another-payer")
        assert status == 404
        # The reviewer reads back the decision that stands (to amend it on appeal).
        standing = (await surgeon.GetAssignment(req, metadata=surgeon_authed.metadata)).case.prior_auth_decision
        assert [(d.item_key, d.action) for d in standing.decisions] == [
            (items[0], case_pb2.ITEM_ACTION_APPROVE), (items[1], case_pb2.ITEM_ACTION_DENY)]
        assert standing.decisions[1].patient_text == deny.patient_text

        # The rheumatologist was never offered it.
        theirs = await rheum.ListAssignments(review_pb2.ListAssignmentsRequest(), metadata=rheum_authed.metadata)
        assert case_id not in [a.case_id for a in theirs.assignments]
    finally:
        await receiver.stop()
        for authed in (admin, notify_authed, surgeon_authed, rheum_authed, submitter):
            await authed.close()


async def test_an_expedited_request_past_its_clock_breaches_and_is_escalated(stack, stack_settings):
    """The stack's expedited prior-authorization clock is a few seconds (tests/e2e/conftest.py)."""
    settings = stack_settings
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    surgeon, authed = clients.reviewer(settings, stack.target("review"), "nm-ortho")
    intake, submitter = clients.submitter(settings, stack.target("intake"), TENANT)
    try:
        await list_orthopaedics(directory, admin, "US-NM", ("nm-ortho", ORTHOPAEDICS, 0.9))
        status, pended = await post(stack.fhir_base(), settings, "$submit", pas_request("NM", expedited=True))
        assert status == 200, pended
        case_id = pended["entry"][0]["resource"]["preAuthRef"]
        offer = await offer_of(surgeon, authed, case_id)
        accepted = await surgeon.AcceptAssignment(review_pb2.AssignmentRequest(assignment_id=offer.assignment_id),
                                                  metadata=authed.metadata)
        assert accepted.urgency == case_pb2.URGENCY_EXPEDITED
        assert accepted.sla.budget_seconds == int(stack.overrides["SECONDLOOK_REVIEW_PRIOR_AUTH_EXPEDITED_SECONDS"])

        async def breached():
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
            found = [e for e in case.timeline if e.event_type == "sla.changed" and e.detail.startswith("SLA breached")]
            return found or Pending([e.event_type for e in case.timeline])

        [breach] = await eventually(breached, 60, "the breach on the case's timeline")
        assert "escalated to operations" in breach.detail
        shown = await surgeon.GetAssignment(review_pb2.AssignmentRequest(assignment_id=offer.assignment_id),
                                            metadata=authed.metadata)
        assert shown.assignment.sla.breached
    finally:
        for a in (admin, authed, submitter):
            await a.close()

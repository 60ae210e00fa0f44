"""Acceptance: a hospital's FHIR system submits a second-opinion request as an R4
transaction Bundle over HTTP and it becomes the same case SubmitCase makes (PHI
encrypted at rest, readable through GetCase, its status at
/fhir/ServiceRequest/{id}); every refusal is an OperationOutcome with a 4xx and
stores nothing."""

from __future__ import annotations

import copy
import json
import uuid

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from secondlook.auth import mint_token
from secondlook.v1 import case_pb2, intake_pb2

pytestmark = pytest.mark.e2e

TENANT = "tenant-fhir"


async def _stored(mongo) -> tuple[int, int]:
    """The tenant's cases and their events waiting in or gone through intake's outbox."""
    db = mongo["secondlook_intake"]
    case_ids = [d["_id"] async for d in db["cases"].find({"tenant_id": TENANT}, {"_id": 1})]
    return len(case_ids), await db["outbox"].count_documents({"case_id": {"$in": case_ids}})


async def test_a_fhir_bundle_becomes_a_case_read_back_over_grpc_and_fhir(stack, stack_settings):
    mongo = AsyncMongoClient(stack.mongo_uri)
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), TENANT)
    try:
        bundle = clients.sample_bundle("fhir-e2e-1")
        status, reply, headers = await clients.submit_bundle(stack_settings, stack.fhir_base(), TENANT, bundle)
        assert status == 201, reply
        assert reply["resourceType"] == "Bundle" and reply["type"] == "transaction-response"
        location = reply["entry"][0]["response"]["location"]
        case_id = location.split("/")[1]
        assert headers["Location"].endswith(f"/fhir/{location}")
        again, reply, _ = await clients.submit_bundle(stack_settings, stack.fhir_base(), TENANT, bundle)
        assert again == 200 and reply["entry"][0]["response"]["location"] == location

        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=authed.metadata)
        assert case.kind == case_pb2.CASE_KIND_SECOND_OPINION and case.diagnosis_code == "C50.911"
        assert (case.patient.family_name, case.patient.birth_date) == ("Testperson", "1968-04-12")
        assert case.first_opinion.physician.npi == "1234567893" and case.jurisdiction == "US-CA"
        raw = await mongo["secondlook_intake"]["cases"].find_one({"_id": case_id})
        assert b"Testperson" not in repr(raw).encode()  # sealed like any case's PHI

        token = mint_token(stack_settings, subject="coordinator", tenant=TENANT, roles=["submitter"])
        outsider = mint_token(stack_settings, subject="someone", tenant="another-tenant", roles=["submitter"])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{stack.fhir_base()}/ServiceRequest/{case_id}",
                                headers={"Authorization": f"Bearer {token}"}) as response:
                resource = await response.json(content_type=None)
                assert response.status == 200 and response.content_type == "application/fhir+json"
                assert resource["resourceType"] == "ServiceRequest" and resource["id"] == case_id
                assert resource["status"] == "active" and resource["intent"] == "order"
            async with http.get(f"{stack.fhir_base()}/ServiceRequest/{case_id}",
                                headers={"Authorization": f"Bearer {outsider}"}) as response:
                assert response.status == 404
                assert (await response.json(content_type=None))["resourceType"] == "OperationOutcome"
    finally:
        await authed.close()
        await mongo.close()


def _without_patient(bundle: dict) -> dict:
    """The ServiceRequest's subject points at a Patient the bundle does not carry."""
    broken = copy.deepcopy(bundle)
    broken["entry"] = [e for e in broken["entry"] if e["resource"]["resourceType"] != "Patient"]
    return broken


def _wrong_type(bundle: dict) -> dict:
    broken = copy.deepcopy(bundle)
    broken["entry"][1]["resource"]["resourceType"] = "Patient2"
    return broken


def _bad_npi(bundle: dict) -> dict:
    broken = copy.deepcopy(bundle)
    for entry in broken["entry"]:
        if entry["resource"]["resourceType"] == "Practitioner":
            entry["resource"]["identifier"][0]["value"] = "1234567890"  # check digit wrong
    return broken


@pytest.mark.parametrize("make, status, expression", [
    (_without_patient, 422, "Bundle.entry[0].resource.subject"),
    (_wrong_type, 400, "Bundle.entry[1].resource"),
    (_bad_npi, 422, ".identifier[0].value"),
], ids=["missing-referenced-resource", "wrong-resource-type", "npi-check-digit"])
async def test_a_refused_bundle_is_an_operation_outcome_naming_the_element_and_stores_nothing(
        stack, stack_settings, make, status, expression):
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        baseline, _, _ = await clients.submit_bundle(stack_settings, stack.fhir_base(), TENANT,
                                                     clients.sample_bundle(f"fhir-baseline-{uuid.uuid4().hex[:8]}"))
        assert baseline == 201  # the tenant has a case and its event: counts that could move
        before = await _stored(mongo)
        assert before[0] >= 1 and before[1] >= before[0]
        got, outcome, _ = await clients.submit_bundle(stack_settings, stack.fhir_base(), TENANT,
                                                      make(clients.sample_bundle(f"fhir-refused-{status}")))
        assert got == status, outcome
        assert outcome["resourceType"] == "OperationOutcome"
        expressions = [x for issue in outcome["issue"] for x in issue.get("expression", [])]
        assert any(expression in x for x in expressions), expressions
        assert await _stored(mongo) == before
    finally:
        await mongo.close()


async def test_a_body_that_is_not_json_or_has_no_token_is_refused_as_an_operation_outcome(stack, stack_settings):
    token = mint_token(stack_settings, subject="coordinator", tenant=TENANT, roles=["submitter"])
    async with aiohttp.ClientSession() as http:
        for headers, body, status in [
            ({"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}, b"{not json", 400),
            ({"Content-Type": "application/fhir+json"}, json.dumps(clients.sample_bundle("x")).encode(), 401),
        ]:
            async with http.post(f"{stack.fhir_base()}/Bundle", data=body, headers=headers) as response:
                assert response.status == status
                outcome = await response.json(content_type=None)
                assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"

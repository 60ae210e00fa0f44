"""PHI is encrypted at rest: intake's documents (and the store's oplog) hold only
ciphertext of what a case says, GetCase opens it for the case's tenant, and the
key rotation command leaves every case readable."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

import bson
import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from secondlook.v1 import intake_pb2
from tests.e2e.canaries import plant_canaries

pytestmark = pytest.mark.e2e


async def _raw_bytes(mongo: AsyncMongoClient, case_id: str) -> bytes:
    """Every document of intake's database, and the store's whole oplog (a transaction's
    writes are one applyOps entry of admin.$cmd), as raw BSON."""
    raw = b""
    db = mongo["secondlook_intake"]
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            raw += bson.encode(doc)
    async for entry in mongo["local"]["oplog.rs"].find({}):
        raw += bson.encode(entry)
    assert case_id.encode() in raw  # the case is there: what follows looks at the right bytes
    return raw


async def test_a_cases_phi_is_ciphertext_in_the_store_and_readable_through_the_api(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "phi-at-rest")
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        request = clients.sample_cases(prefix="rest-")[0]
        canaries = plant_canaries(request)
        reply = await intake.SubmitCase(request, metadata=authed.metadata, timeout=10)

        raw = await _raw_bytes(mongo, reply.case_id)
        assert [c for c in canaries if c.encode() in raw] == []
        doc = await mongo["secondlook_intake"]["cases"].find_one({"_id": reply.case_id})
        assert doc["content"].subtype == 6 and doc["attachments"].subtype == 6  # sealed values
        assert "patient" not in doc and "clinical_question" not in doc  # nothing of them beside
        assert doc["diagnosis_code"] == "C50.911"  # routing facts stay queryable
        # The MRN is sealed deterministically, for equality lookups.
        assert "mrn_lookup" not in doc
        [lookup] = await mongo["secondlook_intake"]["patient_lookups"].find({"case_id": reply.case_id}).to_list()
        assert lookup["lookup"].subtype == 6

        async def read_back() -> intake_pb2.Case:
            return await intake.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id), metadata=authed.metadata)

        case = await read_back()
        assert case.patient == request.patient and case.clinical_question == request.clinical_question
        assert case.first_opinion.proposed_treatment == request.first_opinion.proposed_treatment

        # Re-wrap the data keys (the operator's command, as the stack's services are configured).
        env = {**os.environ, **stack.infra_env()}
        done = subprocess.run([sys.executable, "-m", "secondlook.cli", "keys", "rotate"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "re-wrapped" in done.stdout
        assert (await read_back()).patient == request.patient
        assert [c for c in canaries if c.encode() in await _raw_bytes(mongo, reply.case_id)] == []

        # Each write and read of the case's PHI is in the tenant's audit chain, before the caller got it.
        audit = await mongo["secondlook_intake"]["audit"].find({"case_id": reply.case_id}).sort("seq").to_list()
        assert [(r["method"], r["tenant_id"], r["subject"]) for r in audit] == [
            ("SubmitCase", "phi-at-rest", "coordinator@example.org")] + [
            ("GetCase", "phi-at-rest", "coordinator@example.org")] * 2
    finally:
        await authed.close()
        await mongo.close()


async def test_the_seal_texts_command_seals_what_review_holds_in_clear(stack):
    """After a rolling update, pods of the earlier version may have written opinions in
    clear once the new ones had sealed what was there at their start: the command looks again."""
    mongo = AsyncMongoClient(stack.mongo_uri)
    opinions = mongo["secondlook_review"]["opinions"]
    try:
        await opinions.insert_one({
            "_id": "cli-legacy", "assignment_id": "cli-legacy-a", "case_id": "cli-legacy-c", "specialist_id": "s",
            "version": 1, "diagnosis": 1, "reviewer_diagnosis_code": "C50.911", "treatment": 1,
            "procedures": [], "recommendation": "clirecommendation", "narrative": "clinarrative",
            "further_tests": [], "patient_summary": "clisummary", "confidence": 80, "attested": True,
            "submitted_at": datetime(2026, 1, 1, tzinfo=timezone.utc), "amendment_reason": "", "blind": False})
        env = {**os.environ, **stack.infra_env()}
        done = subprocess.run([sys.executable, "-m", "services.cli", "review", "seal-texts"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "sealed 1 document(s)" in done.stdout
        sealed = await opinions.find_one({"_id": "cli-legacy"})
        assert sealed["texts"].subtype == 6 and b"cli" not in bson.encode({k: v for k, v in sealed.items()
                                                                           if not k.endswith("_id") and k != "_id"})
        again = subprocess.run([sys.executable, "-m", "services.cli", "review", "seal-texts"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "sealed 0 document(s)" in again.stdout
        # Pointed at another key vault by mistake: it makes no key of its own there, and says why.
        elsewhere = subprocess.run([sys.executable, "-m", "services.cli", "review", "seal-texts"], env={
            **env, "SECONDLOOK_PHI_KEY_VAULT_NAMESPACE": "elsewhere_keyvault.datakeys"},
            capture_output=True, text=True, timeout=60)
        assert elsewhere.returncode == 2 and "no data key 'review-phi'" in elsewhere.stderr, elsewhere.stderr
        assert "elsewhere_keyvault" not in await mongo.list_database_names()
    finally:
        await opinions.delete_one({"_id": "cli-legacy"})
        await mongo.close()

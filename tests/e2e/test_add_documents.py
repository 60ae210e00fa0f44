"""Acceptance: records added to an open case join it (encrypted at rest like the
rest of its content) and its timeline; a retry adds nothing; a closed case or
another tenant's takes none."""

from __future__ import annotations

import grpc
import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from secondlook.v1 import case_pb2, intake_pb2
from tests.conftest import eventually

pytestmark = pytest.mark.e2e

TENANT = "tenant-documents"


def _record(n: int) -> intake_pb2.Attachment:
    return intake_pb2.Attachment(uri=f"https://pacs.example.org/studies/canary-doc-{n}", media_type="application/dicom",
                                 size_bytes=52_428_800, sha256=f"{n:064x}", title=f"MRI series {n}")


async def test_added_records_join_the_case_once_encrypted_and_on_its_timeline(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), TENANT)
    outsider, outsider_auth = clients.submitter(stack_settings, stack.target("intake"), "another-tenant")
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        reply = await intake.SubmitCase(clients.numbered_cases("documents", 1)[0], metadata=authed.metadata,
                                        timeout=10)
        request = intake_pb2.AddDocumentsRequest(case_id=reply.case_id, attachments=[_record(1), _record(2)])
        added = await intake.AddDocuments(request, metadata=authed.metadata, timeout=10)
        again = await intake.AddDocuments(request, metadata=authed.metadata, timeout=10)
        assert (added.added, again.added, again.attachments_total) == (2, 0, added.attachments_total)

        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id), metadata=authed.metadata)
        assert [a.uri for a in case.attachments][-2:] == [_record(1).uri, _record(2).uri]
        assert [e.event_type for e in case.timeline].count("documents.added") == 1
        raw = await mongo["secondlook_intake"]["cases"].find_one({"_id": reply.case_id})
        assert b"canary-doc" not in repr(raw).encode() and raw["attachments_count"] == added.attachments_total

        async def published():
            return await mongo["secondlook_intake"]["outbox"].find_one({"case_id": reply.case_id,
                                                                        "type": "documents.added"})

        event = await eventually(published, 10, "documents.added in intake's outbox")
        assert b"canary-doc" not in bytes(event["payload"])

        with pytest.raises(grpc.aio.AioRpcError) as info:
            await outsider.AddDocuments(request, metadata=outsider_auth.metadata, timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        await intake.WithdrawCase(intake_pb2.WithdrawCaseRequest(
            case_id=reply.case_id, reason=case_pb2.WITHDRAWAL_REASON_SUBMITTED_IN_ERROR), metadata=authed.metadata)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await intake.AddDocuments(intake_pb2.AddDocumentsRequest(case_id=reply.case_id, attachments=[_record(3)]),
                                      metadata=authed.metadata, timeout=10)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "WITHDRAWN" in info.value.details()
    finally:
        await authed.close()
        await outsider_auth.close()
        await mongo.close()

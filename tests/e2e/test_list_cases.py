"""ListCases over gRPC: a tenant pages through its own cases while more arrive, each
case once; another tenant's never appear; an operator reads the tenants its token
grants; the whole-case view is audited; bad requests name their field."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pymongo import AsyncMongoClient

from devstack import clients
from secondlook.auth import mint_token
from secondlook.v1 import intake_pb2, intake_pb2_grpc

pytestmark = pytest.mark.e2e


async def _submit(intake, authed, prefix: str, n: int) -> list[str]:
    requests = clients.numbered_cases(prefix, n)
    replies = await asyncio.gather(*(intake.SubmitCase(r, metadata=authed.metadata, timeout=30) for r in requests))
    return [r.case_id for r in replies]


async def test_paging_sees_each_case_once_while_cases_arrive_and_only_its_own_tenants(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "lister-a")
    other, other_auth = clients.submitter(stack_settings, stack.target("intake"), "lister-b")
    operator = clients.Authed(stack.target("intake"), mint_token(
        stack_settings, subject="ops@example.org", tenant="secondlook-ops", roles=["operator"],
        tenants=["lister-a", "lister-b"]))
    ops = intake_pb2_grpc.IntakeServiceStub(operator.channel)
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        mine = await _submit(intake, authed, "list-a", 30)
        theirs = await _submit(other, other_auth, "list-b", 5)

        seen, token, arriving = [], "", 0
        while True:
            page = await intake.ListCases(intake_pb2.ListCasesRequest(page_size=7, page_token=token),
                                          metadata=authed.metadata)
            seen += [c.case_id for c in page.cases]
            assert all(not c.HasField("patient") for c in page.cases)  # the summary carries no PHI
            arriving += 1
            await _submit(intake, authed, f"list-a-more{arriving}", 2)  # new cases while paging
            token = page.next_page_token
            if not token:
                break
        assert len(seen) == len(set(seen)) and set(mine) <= set(seen) and not set(theirs) & set(seen)

        # An operator sees both tenants it is granted; the whole view reads PHI and is audited.
        both = await ops.ListCases(intake_pb2.ListCasesRequest(page_size=200), metadata=operator.metadata)
        assert set(mine) | set(theirs) <= {c.case_id for c in both.cases}
        full = await ops.ListCases(intake_pb2.ListCasesRequest(tenant_id="lister-b", view=intake_pb2.CASE_VIEW_FULL),
                                   metadata=operator.metadata)
        assert {c.case_id for c in full.cases} == set(theirs) and all(c.patient.family_name for c in full.cases)
        audited = await mongo["secondlook_intake"]["audit"].find(
            {"method": "ListCases", "subject": "ops@example.org"}).to_list()
        assert sorted(r["case_id"] for r in audited) == sorted(theirs)
        assert {(r["tenant_id"], r["caller_tenant"]) for r in audited} == {("lister-b", "secondlook-ops")}
        got = await ops.GetCase(intake_pb2.GetCaseRequest(case_id=theirs[0]), metadata=operator.metadata)
        assert got.tenant_id == "lister-b"

        # A submitter reaches no other tenant by naming it; an operator none it is not granted.
        for stub, meta, tenant in ((intake, authed.metadata, "lister-b"), (ops, operator.metadata, "lister-c")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListCases(intake_pb2.ListCasesRequest(tenant_id=tenant), metadata=meta)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await intake.GetCase(intake_pb2.GetCaseRequest(case_id=theirs[0]), metadata=authed.metadata)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        for a in (authed, other_auth, operator):
            await a.close()
        await mongo.close()


async def test_a_bad_list_request_names_every_field(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "lister-bad")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake.ListCases(intake_pb2.ListCasesRequest(page_size=-5, statuses=[42], page_token="forged"),
                                   metadata=authed.metadata)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = error_details_pb2.BadRequest()
        assert rpc_status.from_call(refused.value).details[0].Unpack(bad)
        assert {v.field for v in bad.field_violations} == {"page_size", "statuses", "page_token"}
    finally:
        await authed.close()


async def test_list_and_get_refuse_the_wrong_caller_clearly(stack, stack_settings):
    reviewer_on_intake = clients.Authed(stack.target("intake"), mint_token(
        stack_settings, subject="spec-001@reviewers.example.org", tenant="lister-a", roles=["reviewer"],
        specialist_id="spec-001"))
    anonymous = clients.Authed(stack.target("intake"), "not-a-token")
    try:
        for authed, code in ((reviewer_on_intake, grpc.StatusCode.PERMISSION_DENIED),
                             (anonymous, grpc.StatusCode.UNAUTHENTICATED)):
            stub = intake_pb2_grpc.IntakeServiceStub(authed.channel)
            for call in (stub.ListCases(intake_pb2.ListCasesRequest(), metadata=authed.metadata),
                         stub.GetCase(intake_pb2.GetCaseRequest(case_id="any"), metadata=authed.metadata)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == code
        intake, authed = clients.submitter(stack_settings, stack.target("intake"), "lister-a")
        try:
            for req in (intake_pb2.ListCasesRequest(page_token="tok\x1b[31m"),
                        intake_pb2.ListCasesRequest(page_token="A" * 100_000)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await intake.ListCases(req, metadata=authed.metadata)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "page_token" in refused.value.details()
        finally:
            await authed.close()
    finally:
        await reviewer_on_intake.close()
        await anonymous.close()


async def test_a_text_is_one_text_however_its_accents_were_composed(stack, stack_settings):
    """An MRN, a tenant and a name sent with combining accents are the ones sent precomposed:
    the case is found by the MRN as another system spells it, under the tenant as another
    token spells it, and reads back in normal form C."""
    decomposed, precomposed = "Zoe\u0301", "Zo\u00e9"
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), f"clinique-{decomposed}")
    reader, reader_auth = clients.submitter(stack_settings, stack.target("intake"), f"clinique-{precomposed}")
    try:
        [request] = clients.numbered_cases("nfc", 1)
        request.patient.given_name = decomposed
        [mrn] = [i for i in request.patient.identifiers if i.type == "MR"]
        mrn.value = f"MRN-{decomposed}-7"
        submitted = await intake.SubmitCase(request, metadata=authed.metadata, timeout=30)

        found = await reader.ListCases(intake_pb2.ListCasesRequest(patient_identifier=intake_pb2.Identifier(
            system=mrn.system, value=f"MRN-{precomposed}-7")), metadata=reader_auth.metadata, timeout=30)
        assert [c.case_id for c in found.cases] == [submitted.case_id]
        case = await reader.GetCase(intake_pb2.GetCaseRequest(case_id=submitted.case_id),
                                    metadata=reader_auth.metadata, timeout=30)
        assert case.tenant_id == f"clinique-{precomposed}" and case.patient.given_name == precomposed
    finally:
        await authed.close()
        await reader_auth.close()

"""Acceptance: WatchCase streams a case's timeline as it grows; a client that
disconnects mid-stream and resumes from its last position sees every entry
exactly once through DELIVERED. Outsiders are refused."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from devstack import clients
from devstack.receiver import registered_receiver
from devstack.simreviewer import SimulatedReviewer
from secondlook.auth import mint_token
from secondlook.v1 import case_pb2, intake_pb2, intake_pb2_grpc
from tests.e2e.watching import refused_stream

pytestmark = pytest.mark.e2e

TENANT = "tenant-watch-case"
DELIVERED = case_pb2.CASE_STATUS_DELIVERED


async def _read(call, until, timeout=120.0) -> list[intake_pb2.CaseTimelineUpdate]:
    """Updates from a stream until `until(update)` holds (then the client goes away) or
    the server ends it."""
    received = []

    async def read():
        async for update in call:
            received.append(update)
            if until(update):
                return

    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        call.cancel()
    return received


async def test_a_watcher_that_disconnects_and_resumes_sees_every_entry_once_through_delivered(stack, stack_settings):
    settings = stack_settings
    receiver = await registered_receiver(settings, stack.target("notify"), TENANT)
    # Every specialist listed: the case is a panel's, whose adjudicator may be one another test added.
    reviewer = SimulatedReviewer(settings, stack.target("review"),
                                 await clients.directory_ids(settings, stack.target("matching"))).start()
    intake, authed = clients.submitter(settings, stack.target("intake"), TENANT)
    try:
        reply = await intake.SubmitCase(clients.sample_cases(prefix="watch-case-")[0], metadata=authed.metadata,
                                        timeout=10)
        first = await _read(intake.WatchCase(intake_pb2.WatchCaseRequest(case_id=reply.case_id),
                                             metadata=authed.metadata),
                            until=lambda u: u.position >= 2)  # gone mid-stream, the case still moving
        assert [u.position for u in first] == [1, 2]
        assert first[0].entry.event_type == "case.submitted"
        rest = await _read(intake.WatchCase(intake_pb2.WatchCaseRequest(case_id=reply.case_id,
                                                                        after_position=first[-1].position),
                                            metadata=authed.metadata),
                           until=lambda u: False)  # to its end: delivered, every stage recorded
        seen = first + rest
        assert rest[-1].case_status == DELIVERED
        assert [u.position for u in seen] == list(range(1, len(seen) + 1))  # none missed, none repeated
        assert len({u.entry.event_id for u in seen}) == len(seen)
        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id), metadata=authed.metadata)
        assert case.status == DELIVERED
        assert sorted(e.event_id for e in case.timeline) == sorted(u.entry.event_id for u in seen)
        assert {u.entry.status for u in seen} >= {case_pb2.CASE_STATUS_SUBMITTED, case_pb2.CASE_STATUS_MATCHING,
                                                 case_pb2.CASE_STATUS_OFFERED, case_pb2.CASE_STATUS_ASSIGNED,
                                                 case_pb2.CASE_STATUS_IN_REVIEW, DELIVERED}
        assert reviewer.answered >= 1
    finally:
        await reviewer.stop()
        await receiver.stop()
        await authed.close()



async def test_watching_needs_the_cases_tenant_and_a_position_it_gave_out(stack, stack_settings):
    settings = stack_settings
    intake, authed = clients.submitter(settings, stack.target("intake"), TENANT)
    try:
        reply = await intake.SubmitCase(clients.sample_cases(prefix="watch-refused-")[1], metadata=authed.metadata,
                                        timeout=10)
        ahead = await refused_stream(intake.WatchCase(
            intake_pb2.WatchCaseRequest(case_id=reply.case_id, after_position=10_000), metadata=authed.metadata))
        assert ahead.code() == grpc.StatusCode.OUT_OF_RANGE and "after_position" in ahead.details()
        async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
            stub = intake_pb2_grpc.IntakeServiceStub(channel)
            request = intake_pb2.WatchCaseRequest(case_id=reply.case_id)
            assert (await refused_stream(stub.WatchCase(request))).code() == grpc.StatusCode.UNAUTHENTICATED
            outsider = mint_token(settings, subject="someone", tenant="another-tenant", roles=["submitter"])
            error = await refused_stream(stub.WatchCase(request, metadata=(("authorization", f"Bearer {outsider}"),)))
            assert error.code() == grpc.StatusCode.NOT_FOUND
            reviewer = mint_token(settings, subject="r", tenant=TENANT, roles=["reviewer"], specialist_id="x")
            error = await refused_stream(stub.WatchCase(request, metadata=(("authorization", f"Bearer {reviewer}"),)))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await authed.close()

"""Acceptance: a reviewer is pushed their offers and every change to them
(WatchAssignments), only their own, and resumes a stream from a position."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from devstack import clients
from secondlook.auth import mint_token
from secondlook.v1 import intake_pb2, review_pb2, review_pb2_grpc
from tests.conftest import eventually
from tests.e2e.watching import Watching, refused_stream

pytestmark = pytest.mark.e2e

OFFERED, ACCEPTED = review_pb2.ASSIGNMENT_STATE_OFFERED, review_pb2.ASSIGNMENT_STATE_ACCEPTED


async def test_a_reviewer_is_pushed_their_offers_and_changes_and_resumes_from_a_position(stack, stack_settings):
    settings = stack_settings
    intake, intake_auth = clients.submitter(settings, stack.target("intake"), "tenant-watch")
    watching = {sid: Watching(settings, stack.target("review"), sid) for sid in clients.specialist_ids()}
    resumed = None
    try:
        reply = await intake.SubmitCase(clients.sample_cases(prefix="watch-")[1], metadata=intake_auth.metadata,
                                        timeout=10)

        async def offered():
            return [(sid, w) for sid, w in watching.items() if w.of(reply.case_id)]

        [(sid, mine)] = await eventually(offered, 30, "the offer pushed to its specialist")
        [offer] = mine.of(reply.case_id)
        assert (offer.assignment.state, offer.version) == (OFFERED, 1)
        assert offer.assignment.specialist_id == sid and offer.position

        await mine.stub.AcceptAssignment(review_pb2.AssignmentRequest(assignment_id=offer.assignment.assignment_id),
                                         metadata=mine.authed.metadata, timeout=10)

        async def accepted():
            return len(mine.of(reply.case_id)) == 2

        await eventually(accepted, 10, "the acceptance pushed to the stream")
        change = mine.of(reply.case_id)[1]
        assert (change.assignment.state, change.version) == (ACCEPTED, 2)
        # Nobody else heard of it.
        assert all(not w.of(reply.case_id) for other, w in watching.items() if other != sid)

        # A new stream from the offer's position replays what came after it.
        resumed = Watching(settings, stack.target("review"), sid, resume_after=offer.position)

        async def replayed():
            return any(c.version == 2 for c in resumed.of(reply.case_id))

        await eventually(replayed, 10, "the acceptance replayed from the offer's position")
        async def recorded():  # intake records the stages a moment later (its projection lingers)
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=reply.case_id),
                                        metadata=intake_auth.metadata)
            return case.specialist_id or None

        assert await eventually(recorded, 10, "intake to record the offer's specialist") == sid
    finally:
        for w in [*watching.values(), *([resumed] if resumed else [])]:
            await w.close()
        await intake_auth.close()



async def test_a_watch_ends_when_its_token_expires(stack, stack_settings):
    # Short-lived tokens are how access is taken back: a stream held open does not outlive its own.
    sid = clients.specialist_ids()[0]
    # Expired 27 s ago: still accepted within the 30 s leeway, so the stream opens and ends
    # when the leeway runs out (the leeway is what the stream is held to, not exp alone).
    token = mint_token(stack_settings, subject=f"{sid}@reviewers.example.org", tenant="secondlook-reviewers",
                       roles=["reviewer"], specialist_id=sid, ttl_seconds=-27)
    async with grpc.aio.insecure_channel(stack.target("review")) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        async with asyncio.timeout(30):
            error = await refused_stream(stub.WatchAssignments(
                review_pb2.WatchAssignmentsRequest(), metadata=(("authorization", f"Bearer {token}"),)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "token expired" in error.details()


async def test_a_watch_needs_a_reviewer_token_and_a_position_this_service_gave_out(stack, stack_settings):
    async with grpc.aio.insecure_channel(stack.target("review")) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        error = await refused_stream(stub.WatchAssignments(review_pb2.WatchAssignmentsRequest()))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        submitter = mint_token(stack_settings, subject="coord", tenant="tenant-a", roles=["submitter"])
        error = await refused_stream(stub.WatchAssignments(
            review_pb2.WatchAssignmentsRequest(), metadata=(("authorization", f"Bearer {submitter}"),)))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED

    reviewer, authed = clients.reviewer(stack_settings, stack.target("review"), clients.specialist_ids()[0])
    try:
        error = await refused_stream(reviewer.WatchAssignments(
            review_pb2.WatchAssignmentsRequest(resume_after="not-a-position"), metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(error)
        details = error_details_pb2.BadRequest()
        status.details[0].Unpack(details)
        assert [v.field for v in details.field_violations] == ["resume_after"]
    finally:
        await authed.close()


@pytest.mark.parametrize("resume_after", ["ab\x00cd", "\u202e" * 10, "A" * 100_000, "MTo5OTk5OTk5OTk5OTk5OTk5OTk6MTp4",
                                          "MTotNjIxMzU1OTY4MDAwMDA6MTp4"])  # 0001-01-01T00:00Z: no time before it to overlap
async def test_a_hostile_position_is_refused_naming_the_field(stack, stack_settings, resume_after):
    reviewer, authed = clients.reviewer(stack_settings, stack.target("review"), clients.specialist_ids()[0])
    try:
        error = await refused_stream(reviewer.WatchAssignments(
            review_pb2.WatchAssignmentsRequest(resume_after=resume_after), metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error_details_pb2.BadRequest()
        rpc_status.from_call(error).details[0].Unpack(details)
        assert [v.field for v in details.field_violations] == ["resume_after"]
    finally:
        await authed.close()


async def test_undecodable_watch_requests_are_invalid_argument_after_authentication(stack, stack_settings):
    token = mint_token(stack_settings, subject="s@reviewers.example.org", tenant="secondlook-reviewers",
                       roles=["reviewer"], specialist_id=clients.specialist_ids()[0])
    async with grpc.aio.insecure_channel(stack.target("review")) as channel:
        watch = channel.unary_stream("/secondlook.v1.ReviewService/WatchAssignments")  # raw bytes in and out
        error = await refused_stream(watch(b"\x0e\x00"))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        error = await refused_stream(watch(b"\x0e\x00", metadata=(("authorization", f"Bearer {token}"),)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

"""review's gRPC entry point: the reviewer's inbox and the opinion, mapped to use cases."""

from __future__ import annotations

import grpc

from secondlook.auth import Principal, require_role
from secondlook.clock import Clock
from secondlook.errors import field_violations
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact
from secondlook.v1 import review_pb2, review_pb2_grpc

from . import usecases
from .domain.assignment import Assignment, IllegalAction

log = get_logger(__name__)


def _message(a: Assignment) -> review_pb2.Assignment:
    msg = review_pb2.Assignment(
        assignment_id=a.assignment_id, case_id=a.case_id, specialist_id=a.specialist_id, specialty=a.specialty,
        state=a.state, diagnosis_code=a.diagnosis_code, urgency=a.urgency,
    )
    msg.offered_at.FromDatetime(a.offered_at)
    msg.respond_by.FromDatetime(a.respond_by)
    return msg


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def __init__(self, transact: Transact, inbox: usecases.InboxQuery, clock: Clock):
        self._transact = transact
        self._inbox = inbox
        self._clock = clock

    async def _reviewer(self, context) -> Principal:
        principal = await require_role(context, "reviewer")
        if not principal.specialist_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "token has no specialist_id claim")
        return principal

    async def ListAssignments(self, request, context):
        principal = await self._reviewer(context)
        found = await usecases.list_assignments(self._inbox, principal.specialist_id, list(request.states))
        return review_pb2.ListAssignmentsResponse(assignments=[_message(a) for a in found])

    async def _run(self, context, assignment_id: str, action: str, command) -> review_pb2.Assignment:
        principal = await self._reviewer(context)
        if not assignment_id:
            await context.abort_with_status(field_violations(("assignment_id", "is required")))
        try:
            moved = await command(principal.specialist_id)
        except usecases.InvalidOpinion as exc:
            await context.abort_with_status(field_violations(*exc.violations))
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"assignment_id: no assignment {assignment_id[:64]!r}")
        except IllegalAction as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except usecases.Superseded:
            await context.abort(grpc.StatusCode.ABORTED, "the assignment changed while this call ran; read it again")
        with bound_contextvars(case_id=moved.case_id):
            log.info("assignment_" + action, assignment_id=assignment_id)
        return _message(moved)

    async def AcceptAssignment(self, request, context):
        return await self._run(context, request.assignment_id, "accept", lambda sid: usecases.accept_assignment(
            self._transact, self._clock, sid, request.assignment_id))

    async def StartReview(self, request, context):
        return await self._run(context, request.assignment_id, "start", lambda sid: usecases.start_review(
            self._transact, self._clock, sid, request.assignment_id))

    async def SubmitOpinion(self, request, context):
        opinion = request.opinion if request.HasField("opinion") else None
        return await self._run(context, request.assignment_id, "submit_opinion", lambda sid: usecases.submit_opinion(
            self._transact, self._clock, sid, request.assignment_id, opinion))

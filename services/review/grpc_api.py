"""review's gRPC API: the reviewer's inbox and the opinion."""

from __future__ import annotations

import uuid

import grpc

from secondlook.auth import Principal, require_role
from secondlook.clock import utcnow
from secondlook.errors import field_violations
from secondlook.events import new_event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.store import Store, UnitOfWork
from secondlook.v1 import events_pb2, review_pb2, review_pb2_grpc

from . import repository
from .domain.assignment import IllegalAction, next_state, validate_opinion

log = get_logger(__name__)


def _message(doc: dict) -> review_pb2.Assignment:
    msg = review_pb2.Assignment(
        assignment_id=doc["_id"], case_id=doc["case_id"], specialist_id=doc["specialist_id"],
        specialty=doc["specialty"], state=doc["state"], diagnosis_code=doc["diagnosis_code"],
        urgency=doc["urgency"],
    )
    msg.offered_at.FromDatetime(doc["offered_at"])
    msg.respond_by.FromDatetime(doc["respond_by"])
    return msg


class _NotFound(Exception):
    pass


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def __init__(self, store: Store):
        self._store = store

    async def _reviewer(self, context) -> Principal:
        principal = await require_role(context, "reviewer")
        if not principal.specialist_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "token has no specialist_id claim")
        return principal

    async def ListAssignments(self, request, context):
        principal = await self._reviewer(context)
        docs = await repository.list_for_specialist(self._store.db, principal.specialist_id, list(request.states))
        return review_pb2.ListAssignmentsResponse(assignments=[_message(d) for d in docs])

    async def _act(self, context, assignment_id: str, action: str, at_field: str, make_payload, extra=None):
        principal = await self._reviewer(context)
        if not assignment_id:
            await context.abort_with_status(field_violations(("assignment_id", "is required")))

        async def body(uow: UnitOfWork) -> dict:
            doc = await repository.get_for_specialist(uow, assignment_id, principal.specialist_id)
            if doc is None:
                raise _NotFound()
            new_state = next_state(doc["state"], action)
            now = utcnow()
            if extra is not None:
                await extra(uow, doc, now)
            updated = await repository.set_state(uow, doc, new_state, at_field, now)
            uow.emit(new_event(
                make_payload(doc), case_id=doc["case_id"], tenant_id=doc["tenant_id"], producer="review",
                traceparent=doc.get("traceparent", ""),
            ))
            return updated

        try:
            updated = await self._store.transact(body)
        except _NotFound:
            # Someone else's assignment is indistinguishable from a missing one.
            await context.abort(grpc.StatusCode.NOT_FOUND, f"assignment_id: no assignment {assignment_id[:64]!r}")
        except IllegalAction as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        with bound_contextvars(case_id=updated["case_id"]):
            log.info("assignment_" + action, assignment_id=assignment_id)
        return _message(updated)

    async def AcceptAssignment(self, request, context):
        return await self._act(
            context, request.assignment_id, "accept", "accepted_at",
            lambda d: events_pb2.AssignmentAccepted(assignment_id=d["_id"], specialist_id=d["specialist_id"]),
        )

    async def StartReview(self, request, context):
        return await self._act(
            context, request.assignment_id, "start", "started_at",
            lambda d: events_pb2.ReviewStarted(assignment_id=d["_id"], specialist_id=d["specialist_id"]),
        )

    async def SubmitOpinion(self, request, context):
        violations = validate_opinion(request.opinion if request.HasField("opinion") else None)
        if violations:
            await self._reviewer(context)
            await context.abort_with_status(field_violations(*violations))
        opinion = request.opinion
        opinion_id = str(uuid.uuid4())

        async def store_opinion(uow: UnitOfWork, doc: dict, now) -> None:
            await repository.add_opinion(uow, {
                "_id": opinion_id, "assignment_id": doc["_id"], "case_id": doc["case_id"],
                "specialist_id": doc["specialist_id"],
                "diagnosis_concordance": opinion.diagnosis_concordance,
                "treatment_concordance": opinion.treatment_concordance,
                # Narrative and recommendation are PHI: they stay here, never in events.
                "recommendation": opinion.recommendation, "narrative": opinion.narrative,
                "confidence": opinion.confidence, "attested": True, "submitted_at": now,
            })

        return await self._act(
            context, request.assignment_id, "submit_opinion", "opinion_submitted_at",
            lambda d: events_pb2.OpinionSubmitted(
                assignment_id=d["_id"], specialist_id=d["specialist_id"], opinion_id=opinion_id,
                diagnosis_concordance=opinion.diagnosis_concordance,
                treatment_concordance=opinion.treatment_concordance,
            ),
            extra=store_opinion,
        )

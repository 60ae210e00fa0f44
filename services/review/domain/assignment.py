"""An assignment moves OFFERED -> ACCEPTED -> IN_REVIEW -> OPINION_SUBMITTED, or
to WITHDRAWN from any open state when its case is withdrawn.

Each reviewer action is allowed from exactly one state; anything else is
refused with the state it was attempted in, never applied. The domain builds
the entities and the events they cause; it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from secondlook.events import Event, caused_by, new_event
from secondlook.v1 import events_pb2
from secondlook.v1.case_pb2 import Concordance
from secondlook.v1.review_pb2 import AssignmentState, Opinion

A = AssignmentState

# action -> (state it needs, state it leads to, the field stamped with its time)
TRANSITIONS = {
    "accept": (A.ASSIGNMENT_STATE_OFFERED, A.ASSIGNMENT_STATE_ACCEPTED, "accepted_at"),
    "start": (A.ASSIGNMENT_STATE_ACCEPTED, A.ASSIGNMENT_STATE_IN_REVIEW, "started_at"),
    "submit_opinion": (A.ASSIGNMENT_STATE_IN_REVIEW, A.ASSIGNMENT_STATE_OPINION_SUBMITTED, "opinion_submitted_at"),
}

MAX_TEXT = 20_000


class IllegalAction(Exception):
    pass


@dataclass(frozen=True)
class Assignment:
    assignment_id: str
    case_id: str
    tenant_id: str
    specialist_id: str
    specialty: str
    state: int
    diagnosis_code: str
    urgency: int
    offered_at: datetime
    respond_by: datetime
    traceparent: str = ""
    # When each action happened, by TRANSITIONS' field name.
    stamps: dict[str, datetime] = field(default_factory=dict)
    # Up by one with every change; when review last changed it (the reviewer's feed follows both).
    version: int = 1
    changed_at: datetime | None = None


@dataclass(frozen=True)
class OpinionRecord:
    """A submitted opinion. Recommendation and narrative are PHI: they stay in
    review's store, never in events."""

    opinion_id: str
    assignment_id: str
    case_id: str
    specialist_id: str
    diagnosis_concordance: int
    treatment_concordance: int
    recommendation: str
    narrative: str
    confidence: int
    submitted_at: datetime


def state_name(state: int) -> str:
    return AssignmentState.Name(state).removeprefix("ASSIGNMENT_STATE_")


def next_state(current: int, action: str) -> int:
    needed, result, _ = TRANSITIONS[action]
    if current != needed:
        raise IllegalAction(f"{action} needs state {state_name(needed)}; the assignment is {state_name(current)}")
    return result


def moved(assignment: Assignment, action: str, now: datetime) -> Assignment:
    """The assignment once `action` has moved it on `now` (IllegalAction when out of turn)."""
    state = next_state(assignment.state, action)
    stamp = TRANSITIONS[action][2]
    return replace(assignment, state=state, stamps={**assignment.stamps, stamp: now},
                   version=assignment.version + 1, changed_at=now)


OPEN = frozenset({A.ASSIGNMENT_STATE_OFFERED, A.ASSIGNMENT_STATE_ACCEPTED, A.ASSIGNMENT_STATE_IN_REVIEW})


def withdrawn(assignment: Assignment, now: datetime) -> Assignment | None:
    """The assignment once its case is withdrawn, or None when it is past that (its
    opinion is in, or it was withdrawn before)."""
    if assignment.state not in OPEN:
        return None
    return replace(assignment, state=A.ASSIGNMENT_STATE_WITHDRAWN, stamps={**assignment.stamps, "withdrawn_at": now},
                   version=assignment.version + 1, changed_at=now)


def assignments_withdrawn(cause: Event, assignment_ids: list[str]) -> Event:
    return caused_by(cause, events_pb2.AssignmentsWithdrawn(assignment_ids=assignment_ids), producer="review")


def offer_from(event: Event, now: datetime) -> Assignment:
    """The inbox entry a specialist.offered event makes, recorded `now`."""
    offer = event.specialist_offered
    return Assignment(
        assignment_id=offer.assignment_id, case_id=event.case_id, tenant_id=event.tenant_id,
        specialist_id=offer.specialist_id, specialty=offer.specialty, state=A.ASSIGNMENT_STATE_OFFERED,
        diagnosis_code=offer.diagnosis_code, urgency=offer.urgency,
        offered_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc),
        respond_by=offer.respond_by.ToDatetime(tzinfo=timezone.utc), traceparent=event.traceparent,
        changed_at=now,
    )


def event_for(assignment: Assignment, action: str, now: datetime, opinion: OpinionRecord | None = None) -> Event:
    """The event the reviewer's action caused, once the assignment has moved."""
    ids = {"assignment_id": assignment.assignment_id, "specialist_id": assignment.specialist_id}
    if action == "accept":
        payload = events_pb2.AssignmentAccepted(**ids)
    elif action == "start":
        payload = events_pb2.ReviewStarted(**ids)
    else:
        assert opinion is not None
        payload = events_pb2.OpinionSubmitted(
            **ids, opinion_id=opinion.opinion_id,
            diagnosis_concordance=opinion.diagnosis_concordance,
            treatment_concordance=opinion.treatment_concordance,
        )
    return new_event(payload, case_id=assignment.case_id, tenant_id=assignment.tenant_id, producer="review",
                     traceparent=assignment.traceparent, occurred_at=now)


def validate_opinion(opinion: Opinion | None) -> list[tuple[str, str]]:
    if opinion is None:
        return [("opinion", "is required")]
    v = []
    concordances = (Concordance.CONCORDANCE_SAME, Concordance.CONCORDANCE_REFINED, Concordance.CONCORDANCE_DIFFERENT)
    for name in ("diagnosis_concordance", "treatment_concordance"):
        if getattr(opinion, name) not in concordances:
            v.append((f"opinion.{name}", "must be SAME, REFINED or DIFFERENT"))
    if not opinion.recommendation.strip():
        v.append(("opinion.recommendation", "is required"))
    for name in ("recommendation", "narrative"):
        if len(getattr(opinion, name)) > MAX_TEXT:
            v.append((f"opinion.{name}", f"must be at most {MAX_TEXT} characters"))
    if not 0 <= opinion.confidence <= 100:
        v.append(("opinion.confidence", "must be between 0 and 100"))
    if not opinion.attestation:
        v.append(("opinion.attestation", "must be true: the reviewer attests the opinion is their own"))
    return v

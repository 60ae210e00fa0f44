"""What matching decides for a submitted case, as entities and events.

`decide` runs the hard rules and the ranking (matcher.py) and returns the
candidates best-first with the events the outcome causes; capacity is taken
by the use case, atomically, one candidate at a time, so the best candidate
with a free slot at commit time gets the offer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from secondlook.events import Event, caused_by
from secondlook.v1 import events_pb2

from .matcher import Candidate, CaseFacts


@dataclass(frozen=True)
class Offer:
    """A specialist offered a case, holding one of their slots until the opinion."""

    assignment_id: str
    case_id: str
    tenant_id: str
    specialist_id: str
    specialty: str
    score: float
    explanation: str
    offered_at: datetime
    respond_by: datetime


@dataclass(frozen=True)
class Decision:
    """What matching decided for a case, as recorded: the facts it matched on, the
    offers it made and why nobody could take it (when nobody could)."""

    facts: CaseFacts
    offers: tuple[Offer, ...]
    unmatched_reasons: tuple[str, ...]


def matching_started(cause: Event, specialties: tuple[str, ...]) -> Event:
    return caused_by(cause, events_pb2.MatchingStarted(specialties=list(specialties)), producer="matching")


def offer_to(cause: Event, candidate: Candidate, now: datetime, ttl_seconds: int) -> tuple[Offer, Event]:
    submitted = cause.case_submitted
    offer = Offer(
        assignment_id=str(uuid.uuid4()), case_id=cause.case_id, tenant_id=cause.tenant_id,
        specialist_id=candidate.specialist.specialist_id, specialty=candidate.specialty, score=candidate.score.total,
        explanation=candidate.explanation, offered_at=now, respond_by=now + timedelta(seconds=ttl_seconds),
    )
    payload = events_pb2.SpecialistOffered(
        assignment_id=offer.assignment_id, specialist_id=offer.specialist_id, specialty=offer.specialty,
        explanation=offer.explanation, diagnosis_code=submitted.diagnosis_code, urgency=submitted.urgency,
    )
    payload.respond_by.FromDatetime(offer.respond_by)
    return offer, caused_by(cause, payload, producer="matching")


def unmatched(cause: Event, reason: str) -> Event:
    return caused_by(cause, events_pb2.CaseUnmatched(reason=reason), producer="matching")


def offers_withdrawn(cause: Event, assignment_ids: list[str]) -> Event:
    return caused_by(cause, events_pb2.OffersWithdrawn(assignment_ids=assignment_ids), producer="matching")

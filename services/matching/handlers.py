"""matching's reactions: a submitted case gets a specialist reserved and offered;
a submitted opinion gives the specialist's slot back."""

from __future__ import annotations

import uuid
from datetime import timedelta

from secondlook.clock import utcnow
from secondlook.events import Event, caused_by
from secondlook.logging import get_logger
from secondlook.store import UnitOfWork
from secondlook.v1 import events_pb2

from . import directory
from .domain.matcher import CaseFacts, rank
from .domain.specialties import specialties_for

log = get_logger(__name__)


def make_handlers(offer_ttl_seconds: int):
    async def on_submitted(event: Event, uow: UnitOfWork) -> None:
        sub = event.case_submitted
        facts = CaseFacts(sub.diagnosis_code, sub.jurisdiction, sub.language)
        wanted = specialties_for(sub.diagnosis_code)
        uow.emit(caused_by(event, events_pb2.MatchingStarted(specialties=list(wanted)), producer="matching"))
        ranked, why_not = rank(facts, await directory.candidates(uow, wanted, sub.jurisdiction))
        for candidate in ranked:
            if not await directory.reserve(uow, candidate.specialist.specialist_id):
                continue  # its last slot went to a concurrent case: next best
            now = utcnow()
            assignment_id = str(uuid.uuid4())
            respond_by = now + timedelta(seconds=offer_ttl_seconds)
            await directory.record_assignment(uow, {
                "_id": assignment_id, "case_id": event.case_id, "tenant_id": event.tenant_id,
                "specialist_id": candidate.specialist.specialist_id, "specialty": candidate.specialty,
                "score": candidate.score, "explanation": candidate.explanation,
                "offered_at": now, "respond_by": respond_by, "state": "OFFERED",
            })
            offered = events_pb2.SpecialistOffered(
                assignment_id=assignment_id, specialist_id=candidate.specialist.specialist_id,
                specialty=candidate.specialty, explanation=candidate.explanation,
                diagnosis_code=sub.diagnosis_code, urgency=sub.urgency,
            )
            offered.respond_by.FromDatetime(respond_by)
            uow.emit(caused_by(event, offered, producer="matching"))
            log.info("specialist_offered", specialist_id=candidate.specialist.specialist_id,
                     score=candidate.score)
            return
        reason = why_not or "every eligible specialist filled up while matching"
        uow.emit(caused_by(event, events_pb2.CaseUnmatched(reason=reason), producer="matching"))
        log.warning("case_unmatched")  # the reason travels in the event, to intake's timeline

    async def on_opinion(event: Event, uow: UnitOfWork) -> None:
        if await directory.release(uow, event.opinion_submitted.assignment_id, utcnow()):
            log.info("capacity_released", specialist_id=event.opinion_submitted.specialist_id)

    return {"case.submitted": on_submitted, "opinion.submitted": on_opinion}

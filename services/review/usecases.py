"""review's service layer: one function per command and per event, over the
repository port and the unit of work. No gRPC, no MongoDB here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from secondlook.clock import Clock
from secondlook.errors import InvalidInput
from secondlook.events import Event
from secondlook.unitofwork import Transact
from secondlook.v1.review_pb2 import Opinion

from .domain.assignment import Assignment, OpinionRecord, act, offer_from, validate_opinion
from .repository import ReviewRepository


class UnitOfWork(Protocol):
    assignments: ReviewRepository
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


class InboxQuery(Protocol):
    async def list_for_specialist(self, specialist_id: str, states: list[int]) -> list[Assignment]: ...


class NotFound(Exception):
    """No such assignment for this specialist (another's is indistinguishable from a missing one)."""


class InvalidOpinion(InvalidInput):
    """The opinion is incomplete or out of range: nothing is stored."""


class Superseded(Exception):
    """The assignment changed while the command ran; the caller may read it again."""


# --- events ----------------------------------------------------------------------
async def record_offer(uow: UnitOfWork, event: Event) -> None:
    """specialist.offered: the offer lands in the specialist's inbox (once, however often it arrives)."""
    await uow.assignments.add_offer(offer_from(event))


# --- queries ---------------------------------------------------------------------
async def list_assignments(inbox: InboxQuery, specialist_id: str, states: list[int]) -> list[Assignment]:
    return await inbox.list_for_specialist(specialist_id, states)


# --- commands --------------------------------------------------------------------
async def _act(transact: Transact, clock: Clock, specialist_id: str, assignment_id: str, action: str,
               opinion: Opinion | None = None) -> Assignment:
    async def body(uow: UnitOfWork) -> Assignment:
        assignment = await uow.assignments.get_for_specialist(assignment_id, specialist_id)
        if assignment is None:
            raise NotFound(assignment_id)
        now = clock.now()
        record = None
        if opinion is not None:
            record = OpinionRecord(
                opinion_id=str(uuid.uuid4()), assignment_id=assignment.assignment_id, case_id=assignment.case_id,
                specialist_id=assignment.specialist_id, diagnosis_concordance=opinion.diagnosis_concordance,
                treatment_concordance=opinion.treatment_concordance, recommendation=opinion.recommendation,
                narrative=opinion.narrative, confidence=opinion.confidence, submitted_at=now,
            )
        moved, event = act(assignment, action, now, record)  # IllegalAction when out of turn
        if record is not None:
            await uow.assignments.add_opinion(record)
        if not await uow.assignments.save(assignment, moved):
            raise Superseded(assignment_id)
        uow.emit(event)
        return moved

    return await transact(body)


async def accept_assignment(transact: Transact, clock: Clock, specialist_id: str, assignment_id: str) -> Assignment:
    return await _act(transact, clock, specialist_id, assignment_id, "accept")


async def start_review(transact: Transact, clock: Clock, specialist_id: str, assignment_id: str) -> Assignment:
    return await _act(transact, clock, specialist_id, assignment_id, "start")


async def submit_opinion(transact: Transact, clock: Clock, specialist_id: str, assignment_id: str,
                         opinion: Opinion | None) -> Assignment:
    violations = validate_opinion(opinion)
    if violations:
        raise InvalidOpinion(violations)
    return await _act(transact, clock, specialist_id, assignment_id, "submit_opinion", opinion)

"""intake's service layer: one function per command, query and event, over the
repository ports and the unit of work. No gRPC, Kafka or MongoDB here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from secondlook.clock import Clock
from secondlook.consumer import PermanentError
from secondlook.errors import InvalidInput
from secondlook.events import Event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact
from secondlook.v1.intake_pb2 import SubmitCaseRequest

from .domain import case as cases
from .domain.case import Case
from .domain.lifecycle import IllegalTransition, status_name
from .domain.submission import validate
from .repository import CaseReader, CaseRepository, DuplicateRequest

log = get_logger(__name__)


class UnitOfWork(Protocol):
    cases: CaseRepository
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


class InvalidSubmission(InvalidInput):
    """The submission breaks validation rules: nothing is stored."""


class KeyReused(Exception):
    """The client_request_id was used before for a different submission in this tenant."""


# --- commands --------------------------------------------------------------------
async def submit_case(transact: Transact, reader: CaseReader, clock: Clock, request: SubmitCaseRequest, *,
                      tenant_id: str, submitted_by: str, traceparent: str, stuck_after: float) -> tuple[Case, bool]:
    """Stores a valid case and emits case.submitted, or returns the case this key
    made before (created False). Nothing is stored for an invalid request."""
    now = clock.now()
    valid, violations = validate(request, now)
    if valid is None:
        raise InvalidSubmission(violations)
    case_id = str(uuid.uuid4())

    async def body(uow: UnitOfWork) -> tuple[Case, bool]:
        # The key's unique index decides: no read first, a repeat is the rare path.
        case, event = cases.new_case(valid, case_id=case_id, tenant_id=tenant_id, submitted_by=submitted_by,
                                     traceparent=traceparent, now=now, stuck_after=stuck_after)
        await uow.cases.add(case)
        uow.emit(event)
        return case, True

    try:
        case, created = await transact(body)
    except DuplicateRequest:  # this key made a case before (or a concurrent submit just did)
        case, created = await reader.by_request_id(tenant_id, valid.client_request_id), False
    if not created and case.request_sha256 != valid.fingerprint:
        raise KeyReused(valid.client_request_id)
    if created:
        with bound_contextvars(case_id=case.case_id):
            log.info("case_submitted")
    return case, created


# --- queries ---------------------------------------------------------------------
async def get_case(reader: CaseReader, tenant_id: str, case_id: str) -> Case | None:
    """The tenant's case; another tenant's is indistinguishable from a missing one."""
    return await reader.get_for_tenant(case_id, tenant_id)


# --- events ----------------------------------------------------------------------
class ProjectionContended(Exception):
    """The case kept moving under the projection: the consumer tries again later."""


PROJECTION_ROUNDS = 5


async def project(repository: CaseRepository, event: Event, clock: Clock, stuck_after: float) -> bool:
    """A downstream stage event moves the case's status forward and joins its timeline.

    One guarded write, no transaction: the case records the event's id, so a
    repeat changes nothing; when the case moved since it was read (another
    event, a redrive), it is read again and the rules decide again. False for a
    repeat (the case had recorded the event)."""
    for _ in range(PROJECTION_ROUNDS):
        case = await repository.get(event.case_id)
        if case is None:
            raise PermanentError(f"case_id: no case {event.case_id!r} in intake")
        if case.tenant_id != event.tenant_id:
            raise PermanentError("tenant_id: event's tenant does not own the case")
        try:
            moved, step = cases.project(case, event, clock.now(), stuck_after)
        except IllegalTransition as exc:
            # Refused, never applied (a repeat is refused again, the same way).
            log.warning("transition_refused", status=status_name(case.status), reason=str(exc))
            return True
        if step.entry is None:
            return False  # recorded before: a repeat
        if await repository.save_projection(case, moved, event.event_id):
            if step.status_changed:
                log.info("case_status_changed", status=status_name(step.status))
            return True
    raise ProjectionContended(f"case {event.case_id!r} moved {PROJECTION_ROUNDS} times while projecting")


# --- the sweeper -------------------------------------------------------------------
async def sweep(transact: Transact, reader: CaseReader, clock: Clock, *, stuck_after: float,
                max_per_sweep: int) -> list[Case]:
    """Re-drives the cases stuck in a stage the system owns (at most `max_per_sweep`),
    in one transaction; a case that moved meanwhile, or that another replica
    re-drove, is left alone. Returns the cases re-driven."""
    now = clock.now()
    due = await reader.due_for_redrive(now, max_per_sweep)
    if not due:
        return []

    async def body(uow: UnitOfWork) -> list[Case]:
        redriven = []
        for case in due:
            moved, event = cases.redrive(case, now, stuck_after)
            if await uow.cases.save_redrive(case, moved):
                uow.emit(event)
                redriven.append(case)
        return redriven

    return await transact(body)

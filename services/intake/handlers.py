"""intake's reactions to downstream events: keep each case's status and timeline."""

from __future__ import annotations

from datetime import timezone

from secondlook.clock import utcnow
from secondlook.consumer import PermanentError
from secondlook.events import Event
from secondlook.logging import get_logger
from secondlook.store import UnitOfWork

from . import repository
from .domain.lifecycle import (
    STATUS_OF_EVENT,
    IllegalTransition,
    apply_event,
    status_name,
)

log = get_logger(__name__)


def make_handlers(stuck_after: float):
    async def project(event: Event, uow: UnitOfWork) -> None:
        case = await repository.get(uow, event.case_id)
        if case is None:
            raise PermanentError(f"case_id: no case {event.case_id!r} in intake")
        if case["tenant_id"] != event.tenant_id:
            raise PermanentError("tenant_id: event's tenant does not own the case")
        try:
            step = apply_event(
                case["status"], set(case.get("seen_event_ids", [])),
                event_type=event.type, event_id=event.event_id, producer=event.producer,
                occurred_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc), now=utcnow(),
            )
        except IllegalTransition as exc:
            # Refused, never applied; the event id is still recorded as processed.
            log.warning("transition_refused", status=status_name(case["status"]), reason=str(exc))
            return
        if step.entry is None:
            return
        extra = {}
        if event.HasField("specialist_offered"):
            extra["specialist_id"] = event.specialist_offered.specialist_id
        await repository.record_transition(
            uow, event.case_id, step.status, step.entry, step.status_changed, stuck_after, extra
        )
        if step.status_changed:
            log.info("case_status_changed", status=status_name(step.status))

    return {event_type: project for event_type in STATUS_OF_EVENT if event_type != "case.submitted"}

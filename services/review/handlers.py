"""review's reaction to matching's offers: they land in the specialist's inbox."""

from __future__ import annotations

from datetime import timezone

from secondlook.store import UnitOfWork
from secondlook.v1 import events_pb2, review_pb2

from . import repository


def make_handlers():
    async def on_offered(event: events_pb2.Event, uow: UnitOfWork) -> None:
        offer = event.specialist_offered
        await repository.add_offer(uow, {
            "_id": offer.assignment_id, "case_id": event.case_id, "tenant_id": event.tenant_id,
            "specialist_id": offer.specialist_id, "specialty": offer.specialty,
            "state": review_pb2.ASSIGNMENT_STATE_OFFERED,
            "diagnosis_code": offer.diagnosis_code, "urgency": offer.urgency,
            "offered_at": event.occurred_at.ToDatetime(tzinfo=timezone.utc),
            "respond_by": offer.respond_by.ToDatetime(tzinfo=timezone.utc),
            "traceparent": event.traceparent,
        })

    return {"specialist.offered": on_offered}

"""notify's reaction to opinion.submitted: one webhook delivery to the submitting tenant."""

from __future__ import annotations

from datetime import timezone

from secondlook.clock import utcnow
from secondlook.events import Event
from secondlook.store import UnitOfWork
from secondlook.v1.case_pb2 import Concordance

from . import repository
from .domain.webhooks import opinion_ready_body

CHANNEL = "webhook"


def make_handlers(on_new_delivery):
    async def on_opinion(event: Event, uow: UnitOfWork) -> None:
        opinion = event.opinion_submitted
        occurred = event.occurred_at.ToDatetime(tzinfo=timezone.utc)
        body = opinion_ready_body(
            case_id=event.case_id, tenant_id=event.tenant_id, event_id=event.event_id,
            occurred_at=occurred.isoformat(),
            diagnosis_concordance=Concordance.Name(opinion.diagnosis_concordance).removeprefix("CONCORDANCE_"),
            treatment_concordance=Concordance.Name(opinion.treatment_concordance).removeprefix("CONCORDANCE_"),
        )
        now = utcnow()
        await repository.add_delivery(uow, {
            "_id": repository.delivery_id(event.event_id, event.tenant_id, CHANNEL),
            "event_id": event.event_id, "case_id": event.case_id, "tenant_id": event.tenant_id,
            "recipient": event.tenant_id, "channel": CHANNEL, "body": body,
            "traceparent": event.traceparent,
            "status": repository.PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now,
        })
        uow.after_commit.append(on_new_delivery)

    return {"opinion.submitted": on_opinion}

"""A delivery: one notice to one recipient over one channel, for one event.

Its id is derived from (event, recipient, channel), so however often an event
arrives there is one delivery for it. Attempts follow a schedule of
exponential backoff with jitter; a delivery out of attempts is dead until a
redrive gives it another round.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from secondlook.events import Event, new_event
from secondlook.v1 import events_pb2
from secondlook.v1.case_pb2 import Concordance

from .webhooks import needs_info_body, opinion_ready_body, retry_delay

PENDING, SENDING, DELIVERED, DEAD = "pending", "sending", "delivered", "dead"
# Its case was withdrawn before it could be delivered: never to be sent.
CANCELLED = "cancelled"
# Not sent, for good: the recipient has no address for its channel on the case.
SKIPPED = "skipped"
WEBHOOK, EMAIL, SMS = "webhook", "email", "sms"
# Who a notice to a person is for (its recipient); a webhook's recipient is an endpoint or the tenant.
PATIENT, PHYSICIAN = "patient", "physician"
# Whom each kind of notice reaches on each channel to people: the patient hears of both
# by e-mail and text, the referring physician of the opinion, by e-mail (no phone of theirs is kept).
AUDIENCES = {
    EMAIL: {"opinion_ready": (PATIENT, PHYSICIAN), "needs_info": (PATIENT,)},
    SMS: {"opinion_ready": (PATIENT,), "needs_info": (PATIENT,)},
}
PERSON_CHANNELS = (EMAIL, SMS)
# What a delivery tells: its opinion being delivered is a stage of the case (opinion.delivered).
OPINION_READY, NEEDS_INFO = "opinion_ready", "needs_info"
# The event type a tenant's endpoint subscribes to, by kind of notice (domain/endpoints.py).
EVENT_TYPES = {OPINION_READY: "case.opinion_ready", NEEDS_INFO: "case.needs_info"}


ATTEMPTS_KEPT = 20  # the latest attempts a delivery's log keeps


@dataclass(frozen=True)
class Attempt:
    """One try at a delivery, as its log shows it."""
    number: int
    at: datetime  # when it started
    outcome: str  # "delivered" or "failed"
    status_code: int = 0  # the receiver's HTTP status (0: no answer)
    error: str = ""  # why it failed (never the notice's content)
    latency_ms: int = 0


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event_id: str
    case_id: str
    tenant_id: str
    recipient: str
    channel: str
    body: bytes
    traceparent: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    attempt_budget: int | None = None  # more than max attempts once re-armed
    lease_until: datetime | None = None  # while SENDING: when another sender may take it over
    kind: str = OPINION_READY
    log: tuple[Attempt, ...] = ()  # the latest attempts, oldest first (read back for ListDeliveries)
    delivered_at: datetime | None = None
    last_error: str = ""

    @property
    def event_type(self) -> str:
        return EVENT_TYPES[self.kind]

    @property
    def to_endpoint(self) -> bool:
        """A webhook addressed to one endpoint; else (a webhook to the tenant) waiting for
        an endpoint that subscribes (there was none when the event came)."""
        return self.channel == WEBHOOK and self.recipient != self.tenant_id

    @property
    def template(self) -> str:
        """A notice to a person: its template, by audience and what it tells, e.g. "patient_opinion_ready"."""
        return f"{self.recipient}_{self.kind}"


def delivery_id(event_id: str, recipient: str, channel: str) -> str:
    return f"{event_id}:{recipient}:{channel}"


def opinion_ready_delivery(event: Event, now: datetime, claimed_until: datetime | None = None,
                           recipient: str | None = None) -> Delivery:
    """The webhook notice to the submitting tenant that an opinion is ready, to one of
    its endpoints (`recipient`, an endpoint id) or to the tenant; with
    `claimed_until`, created already claimed for its first attempt by whoever
    creates it (it sends it at once), under a lease until then."""
    opinion = event.opinion_submitted
    body = opinion_ready_body(
        case_id=event.case_id, tenant_id=event.tenant_id, event_id=event.event_id,
        occurred_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc).isoformat(),
        diagnosis_concordance=Concordance.Name(opinion.diagnosis_concordance).removeprefix("CONCORDANCE_"),
        treatment_concordance=Concordance.Name(opinion.treatment_concordance).removeprefix("CONCORDANCE_"),
        panel_outcome=events_pb2.PanelOutcome.Name(opinion.panel_outcome).removeprefix("PANEL_OUTCOME_")
        if opinion.panel_outcome else "",
    )
    return _to_tenant(event, body, OPINION_READY, now, claimed_until, recipient)


def needs_info_delivery(event: Event, now: datetime, claimed_until: datetime | None = None,
                        recipient: str | None = None) -> Delivery:
    """The webhook notice to the submitting tenant that the reviewer asks for more
    information: how many questions, never the questions (GetCase has them)."""
    body = needs_info_body(case_id=event.case_id, tenant_id=event.tenant_id, event_id=event.event_id,
                           occurred_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc).isoformat(),
                           question_count=event.info_requested.question_count)
    return _to_tenant(event, body, NEEDS_INFO, now, claimed_until, recipient)


def _to_tenant(event: Event, body: bytes, kind: str, now: datetime, claimed_until: datetime | None,
               recipient: str | None) -> Delivery:
    recipient = recipient or event.tenant_id
    return Delivery(
        delivery_id=delivery_id(event.event_id, recipient, WEBHOOK), event_id=event.event_id,
        case_id=event.case_id, tenant_id=event.tenant_id, recipient=recipient, channel=WEBHOOK, body=body,
        traceparent=event.traceparent, created_at=now, kind=kind,
        **({"status": SENDING, "attempts": 1, "next_attempt_at": None, "lease_until": claimed_until} if claimed_until
           else {"status": PENDING, "attempts": 0, "next_attempt_at": now}),
    )


def person_deliveries(event: Event, kind: str, channel: str, now: datetime, claimed_until: datetime | None = None
                      ) -> list[Delivery]:
    """The notices to people an event sends on `channel` (AUDIENCES). They hold no
    address and no text: the address is asked of intake, and the message rendered,
    at send time."""
    return [Delivery(
        delivery_id=delivery_id(event.event_id, audience, channel), event_id=event.event_id, case_id=event.case_id,
        tenant_id=event.tenant_id, recipient=audience, channel=channel, body=b"", traceparent=event.traceparent,
        created_at=now, kind=kind,
        **({"status": SENDING, "attempts": 1, "next_attempt_at": None, "lease_until": claimed_until} if claimed_until
           else {"status": PENDING, "attempts": 0, "next_attempt_at": now}),
    ) for audience in AUDIENCES[channel][kind]]


def next_attempt(delivery: Delivery, now: datetime, max_attempts: int, rng: random.Random | None = None,
                 base_seconds: float = 1.0) -> datetime | None:
    """When to try again after failed attempt number `delivery.attempts`; None when out of attempts."""
    budget = delivery.attempt_budget or max_attempts
    if delivery.attempts >= budget:
        return None
    return now + timedelta(seconds=retry_delay(delivery.attempts, base=base_seconds, rng=rng))


def delivered_event(delivery: Delivery, now: datetime) -> Event:
    """The opinion's notice reached the tenant. One event per opinion however many of the
    tenant's endpoints took it: its id comes from the opinion's event, so intake (which
    drops repeats by event id) records the stage once."""
    event = new_event(
        events_pb2.OpinionDelivered(delivery_id=delivery.delivery_id, channel=delivery.channel,
                                    attempts=delivery.attempts),
        case_id=delivery.case_id, tenant_id=delivery.tenant_id, producer="notify",
        traceparent=delivery.traceparent, causation_id=delivery.event_id, occurred_at=now,
    )
    event.event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"secondlook:opinion.delivered:{delivery.event_id}"))
    return event


def dead_event(delivery: Delivery, error: str, now: datetime) -> Event:
    """The escalation that a notice ran out of attempts (to operations: ids and why, no content)."""
    return new_event(
        events_pb2.DeliveryDead(delivery_id=delivery.delivery_id, channel=delivery.channel,
                                attempts=delivery.attempts, last_error=error[:300], notice_type=delivery.event_type,
                                endpoint_id=delivery.recipient if delivery.to_endpoint else ""),
        case_id=delivery.case_id, tenant_id=delivery.tenant_id, producer="notify",
        traceparent=delivery.traceparent, causation_id=delivery.event_id, occurred_at=now,
    )


def endpoint_disabled_event(endpoint_id: str, tenant_id: str, consecutive_dead: int, reason: str,
                            now: datetime, causation_id: str = "") -> Event:
    """The escalation that notify stopped sending to an endpoint (keyed by the endpoint)."""
    return new_event(
        events_pb2.EndpointDisabled(endpoint_id=endpoint_id, consecutive_dead=consecutive_dead, reason=reason),
        case_id=endpoint_id, tenant_id=tenant_id, producer="notify", causation_id=causation_id, occurred_at=now,
    )

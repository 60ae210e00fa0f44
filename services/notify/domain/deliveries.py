"""A delivery: one notice to one recipient over one channel, for one event.

Its id is derived from (event, recipient, channel), so however often an event
arrives there is one delivery for it. Attempts follow a schedule of
exponential backoff with jitter; a delivery out of attempts is dead until a
redrive gives it another round.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from secondlook.events import Event, new_event
from secondlook.v1 import events_pb2

from .routing import (
    OPERATIONS,
    OPINION_READY,
    REVIEWER,
    Route,
    expedited,
    facts,
    message_facts,
    people_told,
    reviewer_of,
)
from .webhooks import notice_body, retry_delay

PENDING, SENDING, DELIVERED, DEAD = "pending", "sending", "delivered", "dead"
# Its case was withdrawn before it could be delivered: never to be sent.
CANCELLED = "cancelled"
# Not sent, for good: the recipient has no address for its channel on the case.
SKIPPED = "skipped"
# The channel to tenants; those to people (e-mail, text) are in domain/routing.py with
# who hears what. A webhook's recipient is an endpoint or the tenant.
WEBHOOK = "webhook"


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
    kind: str = OPINION_READY  # what it tells: the Route's kind (domain/routing.py)
    log: tuple[Attempt, ...] = ()  # the latest attempts, oldest first (read back for ListDeliveries)
    delivered_at: datetime | None = None
    last_error: str = ""
    person_id: str = ""  # a reviewer's notice: the specialist's id (whose contact and preferences)
    expedited: bool = False  # known from the event (a reviewer's notice): never waits for quiet hours
    cancelled_at: datetime | None = None

    @property
    def event_type(self) -> str:
        return f"case.{self.kind}"

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


def tenant_delivery(event: Event, route: Route, now: datetime, claimed_until: datetime | None = None,
                    recipient: str | None = None) -> Delivery:
    """The webhook notice of `event` to the submitting tenant, to one of its endpoints
    (`recipient`, an endpoint id) or to the tenant (it waits for an endpoint); with
    `claimed_until`, created already claimed for its first attempt by whoever creates
    it (it sends it at once), under a lease until then."""
    body = notice_body(event_type=route.event_type, status=route.status, case_id=event.case_id,
                       tenant_id=event.tenant_id, event_id=event.event_id,
                       occurred_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc).isoformat(), facts=facts(event))
    return _new(event, recipient or event.tenant_id, WEBHOOK, route.kind, body, now, claimed_until)


def person_deliveries(event: Event, route: Route, channel: str, now: datetime,
                      claimed_until: datetime | None = None) -> list[Delivery]:
    """The notices to people an event sends on `channel` (domain/routing.py). They hold
    no address and no text: the address is asked of intake (a case's people) or
    matching (a reviewer), and the message rendered, at send time. A reviewer's or
    operations' notice keeps the event's ids and codes its message shows (its body);
    a patient's or physician's keeps nothing (its message shows nothing of the case)."""
    notices = []
    for audience in people_told(event, route, channel):
        body = json.dumps(message_facts(event), sort_keys=True).encode() if audience in (REVIEWER, OPERATIONS) \
            else b""
        notices.append(_new(event, audience, channel, route.kind, body, now, claimed_until,
                            person_id=reviewer_of(event) if audience == REVIEWER else "",
                            expedited=expedited(event) or audience == OPERATIONS))
    return notices


def _new(event: Event, recipient: str, channel: str, kind: str, body: bytes, now: datetime,
         claimed_until: datetime | None, person_id: str = "", expedited: bool = False) -> Delivery:
    return Delivery(
        delivery_id=delivery_id(event.event_id, recipient, channel), event_id=event.event_id,
        case_id=event.case_id, tenant_id=event.tenant_id, recipient=recipient, channel=channel, body=body,
        traceparent=event.traceparent, created_at=now, kind=kind, person_id=person_id, expedited=expedited,
        **({"status": SENDING, "attempts": 1, "next_attempt_at": None, "lease_until": claimed_until} if claimed_until
           else {"status": PENDING, "attempts": 0, "next_attempt_at": now}),
    )


def settled_at_once(delivery: Delivery, status: str, attempt: Attempt | None, now: datetime) -> Delivery | None:
    """A notice to a person sent before it is written (its event not yet committed by
    the consumer stands in for it): the delivery as first written when that first
    attempt ended it for good, DELIVERED or SKIPPED (nobody to send it to), or when
    its case was withdrawn before it began (CANCELLED, no attempt). One write with
    its outcome instead of an insert and an update. None for any other outcome (a
    failure, quiet hours): it is written claimed for that attempt, whose outcome is
    then recorded like any other's."""
    if status == CANCELLED:
        return replace(delivery, status=CANCELLED, attempts=0, lease_until=None, cancelled_at=now)
    if attempt is None or status not in (DELIVERED, SKIPPED):
        return None
    return replace(delivery, status=status, lease_until=None, log=(attempt,),
                   delivered_at=now if status == DELIVERED else None,
                   last_error=attempt.error[:300] if status == SKIPPED else "")


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

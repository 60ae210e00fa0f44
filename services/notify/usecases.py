"""notify's service layer: one function per command and per event, over the
repository ports and the unit of work. No gRPC, HTTP or MongoDB here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from secondlook.clock import Clock
from secondlook.errors import InvalidInput
from secondlook.events import Event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact

from .domain.deliveries import OPINION_READY, Delivery, delivered_event, next_attempt, opinion_ready_delivery
from .domain.webhooks import check_endpoint_url, new_secret
from .repository import DeliveryQueue, DeliveryRepository, Endpoint, EndpointRepository

log = get_logger(__name__)

# Why a webhook host may not be used (it resolves inward, or not at all), or None.
HostCheck = Callable[[str, int], Awaitable[str | None]]


class UnitOfWork(Protocol):
    deliveries: DeliveryRepository
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


class InvalidWebhook(InvalidInput):
    """The URL, or what its host resolves to, may not receive notices."""


# --- events ----------------------------------------------------------------------
async def record_notices(deliveries: DeliveryRepository, events: list[Event], clock: Clock,
                         send: Callable[[list[Delivery]], None], lease_seconds: float,
                         notice: Callable[..., Delivery] = opinion_ready_delivery) -> list[bool]:
    """opinion.submitted (or info.requested, with its `notice`): one webhook delivery
    to the submitting tenant per event,
    all in one write that only inserts (a delivery's id comes from its event:
    once, however often the event arrives; no transaction). Each is written
    already claimed for its first attempt and handed to `send` once durable: no
    read, no claim. A repeat is left to whoever wrote it first (if that sender
    died, its lease runs out and the delivery is claimed again). Per event False
    for a repeat."""
    now = clock.now()
    lease = now + timedelta(seconds=lease_seconds)
    fresh = [notice(e, now, claimed_until=lease) for e in events]
    added = await deliveries.add_many(fresh)
    send([d for d, new in zip(fresh, added, strict=True) if new])
    return added


async def rearm(queue: DeliveryQueue, clock: Clock, case_id: str, types: tuple[str, ...], max_attempts: int) -> int:
    """A redrive of a case stuck before delivery: dead deliveries get another round
    of attempts, so a receiver that was down longer than one round still gets its notice."""
    if types and "opinion.delivered" not in types:
        return 0
    return await queue.rearm_dead(case_id, clock.now(), max_attempts)


async def cancel_deliveries(queue: DeliveryQueue, clock: Clock, event: Event,
                            withdrawn: Callable[[str], None]) -> bool:
    """assignments.withdrawn: the case was withdrawn, so its notices not yet delivered
    are cancelled (an opinion submitted before the withdrawal came first on this
    topic: its delivery is among them), and the sender is told, so one handed over
    and not yet sent is not sent. One write; a repeat changes nothing."""
    cancelled = await queue.cancel_undelivered(event.case_id, clock.now())
    withdrawn(event.case_id)
    with bound_contextvars(case_id=event.case_id):
        log.info("deliveries_cancelled", cancelled=cancelled)
    return cancelled > 0  # none: a repeat, or nothing was waiting


# --- commands --------------------------------------------------------------------
async def register_webhook(endpoints: EndpointRepository, check_host: HostCheck, clock: Clock, *, tenant_id: str,
                           registered_by: str, url: str, allow_insecure: bool) -> Endpoint:
    """Registers (or replaces) the tenant's endpoint with a fresh signing secret."""
    violations = check_endpoint_url(url, allow_insecure)
    if not violations:
        parts = urlsplit(url)
        problem = await check_host(parts.hostname or "", parts.port or 443)
        if problem:
            violations = [("url", problem)]
    if violations:
        raise InvalidWebhook(violations)
    endpoint = Endpoint(tenant_id=tenant_id, url=url, secret=new_secret())
    await endpoints.put(endpoint, registered_by, clock.now())
    return endpoint


async def next_due(queue: DeliveryQueue) -> datetime | None:
    """When a delivery next falls due (None: nothing waits)."""
    return await queue.next_due()


async def claim_next(queue: DeliveryQueue, clock: Clock, lease_seconds: float) -> Delivery | None:
    return await queue.claim_due(clock.now(), lease_seconds)


async def record_delivered(transact: Transact, clock: Clock, delivery: Delivery, status_code: int) -> bool:
    """The receiver took the notice: the delivery and, for an opinion, `opinion.delivered`
    commit together. False when this attempt's lease was taken over meanwhile (its
    outcome is not recorded)."""

    async def body(uow: UnitOfWork) -> bool:
        now = clock.now()
        if not await uow.deliveries.mark_delivered(delivery, now, status_code):
            return False
        if delivery.kind == OPINION_READY:  # a case stage; other notices are not
            uow.emit(delivered_event(delivery, now))
        return True

    return await transact(body)


async def record_failed(queue: DeliveryQueue, clock: Clock, delivery: Delivery, error: str, max_attempts: int) -> str:
    """A failed attempt: scheduled again with backoff, or dead when out of attempts."""
    next_at = next_attempt(delivery, clock.now(), max_attempts)
    await queue.mark_failed(delivery, next_at, error)
    return "retrying" if next_at is not None else "dead"

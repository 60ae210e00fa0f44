"""In-memory fakes of notify's ports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from secondlook.events import new_event
from secondlook.v1 import events_pb2
from services.notify.domain.deliveries import (
    ATTEMPTS_KEPT,
    CANCELLED,
    DEAD,
    DELIVERED,
    PENDING,
    SENDING,
    SKIPPED,
    Attempt,
    Delivery,
)
from services.notify.domain.endpoints import Endpoint
from services.notify.domain.preferences import TENANT, Preferences, preference_key
from services.notify.domain.routing import stopped_by_withdrawal
from services.notify.repository import Written
from tests.fakes.transact import FakeTransact, FakeUnitOfWork


@dataclass
class NotifyState:
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    leases: dict[str, datetime] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)  # by endpoint id
    cancel_requested: set[str] = field(default_factory=set)  # being sent when their case was withdrawn


class InMemoryDeliveries:
    def __init__(self, state: NotifyState):
        self._state = state

    async def add(self, delivery: Delivery) -> bool:
        if delivery.delivery_id in self._state.deliveries:
            return False
        self._state.deliveries[delivery.delivery_id] = delivery
        if delivery.lease_until is not None:
            self._state.leases[delivery.delivery_id] = delivery.lease_until
        return True

    async def add_many(self, deliveries: list[Delivery]) -> list[bool]:
        return [await self.add(d) for d in deliveries]

    async def written(self, events: list[tuple[str, str]]) -> Written:
        ids, written = {e for _, e in events}, Written()
        for d in self._state.deliveries.values():
            if d.event_id in ids:
                written.deliveries.add(d.delivery_id)
                if d.channel == "webhook":
                    written.routed.add(d.event_id)
        return written

    async def mark_delivered(self, delivery: Delivery, now: datetime, attempt: Attempt) -> bool:
        current = self._state.deliveries.get(delivery.delivery_id)
        if current is None or current.status != SENDING or current.attempts != delivery.attempts:
            return False
        self._state.deliveries[delivery.delivery_id] = dataclasses.replace(
            current, status=DELIVERED, delivered_at=now, log=(*current.log, attempt)[-ATTEMPTS_KEPT:], last_error="")
        self._state.leases.pop(delivery.delivery_id, None)
        return True

    async def mark_dead(self, delivery: Delivery, attempt: Attempt) -> str:
        return _mark_failed(self._state, delivery, None, attempt)


def _mark_failed(state: NotifyState, delivery: Delivery, next_at: datetime | None, attempt: Attempt) -> str:
    current = state.deliveries.get(delivery.delivery_id)
    if current is None or current.status != SENDING or current.attempts != delivery.attempts:
        return ""
    status = DEAD if next_at is None else PENDING
    if delivery.delivery_id in state.cancel_requested:
        status, next_at = CANCELLED, None
    state.deliveries[delivery.delivery_id] = dataclasses.replace(
        current, status=status, next_attempt_at=next_at if next_at is not None else current.next_attempt_at,
        last_error=attempt.error, log=(*current.log, attempt)[-ATTEMPTS_KEPT:])
    state.leases.pop(delivery.delivery_id, None)
    state.errors[delivery.delivery_id] = attempt.error
    return status


class InMemoryDeliveryQueue:
    """Works on whatever the fake transact has committed (these writes are not transactional)."""

    def __init__(self, transact: FakeTransact):
        self._transact = transact

    @property
    def _state(self) -> NotifyState:
        return self._transact.state

    async def claim_due(self, now: datetime, lease_seconds: float) -> Delivery | None:
        due = [d for d in self._state.deliveries.values()
               if (d.status == PENDING and d.next_attempt_at is not None and d.next_attempt_at <= now)
               or (d.status == SENDING and self._state.leases.get(d.delivery_id, now) <= now)]
        for d in [d for d in due if d.delivery_id in self._state.cancel_requested]:
            self._state.deliveries[d.delivery_id] = dataclasses.replace(d, status=CANCELLED)
            self._state.leases.pop(d.delivery_id, None)
            due.remove(d)
        if not due:
            return None
        first = min(due, key=lambda d: d.next_attempt_at or now)
        claimed = dataclasses.replace(first, status=SENDING, attempts=first.attempts + 1)
        self._state.deliveries[first.delivery_id] = claimed
        self._state.leases[first.delivery_id] = now + timedelta(seconds=lease_seconds)
        return claimed

    async def next_due(self) -> datetime | None:
        times = [d.next_attempt_at for d in self._state.deliveries.values()
                 if d.status == PENDING and d.next_attempt_at is not None]
        times += [self._state.leases[d.delivery_id] for d in self._state.deliveries.values()
                  if d.status == SENDING and d.delivery_id in self._state.leases]
        return min(times, default=None)

    async def mark_failed(self, delivery: Delivery, next_at: datetime | None, attempt: Attempt) -> str:
        return _mark_failed(self._state, delivery, next_at, attempt)

    async def mark_delivered(self, delivery: Delivery, now: datetime, attempt: Attempt) -> bool:
        return await InMemoryDeliveries(self._state).mark_delivered(delivery, now, attempt)

    async def postpone(self, delivery: Delivery, until: datetime, attempt: Attempt, budget: int) -> bool:
        current = self._state.deliveries.get(delivery.delivery_id)
        if current is None or current.status != SENDING or current.attempts != delivery.attempts:
            return False
        if delivery.delivery_id in self._state.cancel_requested:
            self._state.deliveries[delivery.delivery_id] = dataclasses.replace(current, status=CANCELLED)
            return False
        self._state.deliveries[delivery.delivery_id] = dataclasses.replace(
            current, status=PENDING, next_attempt_at=until, attempt_budget=budget,
            log=(*current.log, attempt)[-ATTEMPTS_KEPT:])
        self._state.leases.pop(delivery.delivery_id, None)
        return True

    async def mark_skipped(self, delivery: Delivery, attempt: Attempt) -> bool:
        current = self._state.deliveries.get(delivery.delivery_id)
        if current is None or current.status != SENDING or current.attempts != delivery.attempts:
            return False
        self._state.deliveries[delivery.delivery_id] = dataclasses.replace(
            current, status=SKIPPED, last_error=attempt.error, log=(*current.log, attempt)[-ATTEMPTS_KEPT:])
        self._state.leases.pop(delivery.delivery_id, None)
        return True

    async def mark_cancelled(self, delivery: Delivery, now: datetime) -> bool:
        current = self._state.deliveries.get(delivery.delivery_id)
        if current is None or current.status != SENDING or current.attempts != delivery.attempts:
            return False
        self._state.deliveries[delivery.delivery_id] = dataclasses.replace(current, status=CANCELLED,
                                                                           cancelled_at=now, lease_until=None)
        self._state.leases.pop(delivery.delivery_id, None)
        return True

    async def of_case(self, case_id: str, tenants: frozenset[str]) -> list[Delivery]:
        return sorted((d for d in self._state.deliveries.values() if d.case_id == case_id and d.tenant_id in tenants),
                      key=lambda d: (d.created_at, d.delivery_id))

    async def get(self, delivery_id: str, tenants: frozenset[str]) -> Delivery | None:
        found = self._state.deliveries.get(delivery_id)
        return found if found is not None and found.tenant_id in tenants else None

    async def retry_now(self, delivery: Delivery, now: datetime, more_attempts: int) -> bool:
        current = self._state.deliveries.get(delivery.delivery_id)
        if current is None or current.status != DEAD or current.attempts != delivery.attempts:
            return False
        self._state.deliveries[delivery.delivery_id] = dataclasses.replace(
            current, status=PENDING, next_attempt_at=now, attempt_budget=current.attempts + more_attempts)
        return True

    async def rearm_dead(self, case_id: str, now: datetime, more_attempts: int) -> int:
        rearmed = 0
        for d in list(self._state.deliveries.values()):
            if d.case_id == case_id and d.status == DEAD:
                self._state.deliveries[d.delivery_id] = dataclasses.replace(
                    d, status=PENDING, next_attempt_at=now, attempt_budget=d.attempts + more_attempts)
                rearmed += 1
        return rearmed

    async def cancel_undelivered(self, case_id: str, now: datetime, stops=stopped_by_withdrawal) -> int:
        stopped = [d for d in self._state.deliveries.values()
                   if d.case_id == case_id and stops(d.kind, d.recipient, d.person_id)]
        cancelled = [d for d in stopped if d.status in (PENDING, DEAD)]
        for d in cancelled:
            self._state.deliveries[d.delivery_id] = dataclasses.replace(d, status=CANCELLED, next_attempt_at=None)
        in_flight = {d.delivery_id for d in stopped if d.status == SENDING}
        self._state.cancel_requested |= in_flight
        return len(cancelled) + len(in_flight)


class InMemoryEndpoints:
    """The endpoint ports over a state's endpoints (alone, or in a fake unit of work)."""

    def __init__(self, state: NotifyState | None = None):
        self._state = state or NotifyState()

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return self._state.endpoints

    async def add(self, endpoint: Endpoint, limit: int) -> bool:
        if sum(e.tenant_id == endpoint.tenant_id for e in self.endpoints.values()) >= limit:
            return False
        self.endpoints[endpoint.endpoint_id] = endpoint
        return True

    async def put_default(self, endpoint: Endpoint) -> None:
        current = self.endpoints.get(endpoint.endpoint_id)
        self.endpoints[endpoint.endpoint_id] = dataclasses.replace(
            endpoint, version=current.version + 1 if current else 1)

    async def of_tenant(self, tenant_id: str, fresh: bool = False) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.tenant_id == tenant_id]

    async def save(self, before: Endpoint, after: Endpoint) -> bool:
        current = self.endpoints.get(before.endpoint_id)
        if current is None or current.version != before.version:
            return False
        self.endpoints[before.endpoint_id] = dataclasses.replace(after, version=before.version + 1)
        return True

    async def count_dead(self, endpoint_id: str) -> Endpoint | None:
        current = self.endpoints.get(endpoint_id)
        if current is None:
            return None
        self.endpoints[endpoint_id] = dataclasses.replace(current, consecutive_dead=current.consecutive_dead + 1,
                                                          version=current.version + 1)
        return self.endpoints[endpoint_id]

    async def disable_for_failure(self, endpoint_id: str, reason: str) -> bool:
        current = self.endpoints.get(endpoint_id)
        if current is None or not current.enabled:
            return False
        self.endpoints[endpoint_id] = dataclasses.replace(current, disabled_reason=reason,
                                                          version=current.version + 1)
        return True

    def forget(self, tenant_id: str) -> None:
        pass

    async def delivered_to(self, endpoint: Endpoint) -> None:
        current = self.endpoints.get(endpoint.endpoint_id)
        if current is not None:
            self.endpoints[endpoint.endpoint_id] = dataclasses.replace(current, consecutive_dead=0)


class FakeNotifyUnitOfWork(FakeUnitOfWork):
    def __init__(self, state: NotifyState):
        super().__init__(state)
        self.deliveries = InMemoryDeliveries(state)
        self.endpoints = InMemoryEndpoints(state)


def notify_transact() -> FakeTransact:
    return FakeTransact(NotifyState(), FakeNotifyUnitOfWork)


def lifecycle_event(event_type: str, case_id: str = "c1", tenant_id: str = "t1", **fields):
    """An event of `event_type` ("case.withdrawn") with its payload's `fields` set."""
    payload = events_pb2.Event.DESCRIPTOR.fields_by_name[event_type.replace(".", "_", 1)].message_type
    return new_event(getattr(events_pb2, payload.name)(**fields), case_id=case_id, tenant_id=tenant_id,
                     producer="test")


def opinion_event(case_id: str = "c1", tenant_id: str = "t1"):
    """An opinion.submitted event, as review publishes it."""
    return new_event(events_pb2.OpinionSubmitted(assignment_id="a1", specialist_id="s1", opinion_id="o1"),
                     case_id=case_id, tenant_id=tenant_id, producer="review")


class InMemoryPreferences:
    """notify's PreferenceRepository: by key, versioned, with the tenant's "people" mark."""

    def __init__(self):
        self.saved: dict[str, Preferences] = {}
        self.people: set[str] = set()  # scopes where a person has preferences
        self.reads = 0

    async def get(self, scope: str, kind: str, subject_id: str = "") -> Preferences | None:
        return self.saved.get(preference_key(scope, kind, subject_id))

    async def put(self, preferences: Preferences, expected_version: int) -> Preferences | None:
        current = self.saved.get(preferences.key)
        version = current.version if current else 0
        if expected_version and expected_version != version:
            return None
        if preferences.kind != TENANT:
            self.people.add(preferences.scope)
        self.saved[preferences.key] = dataclasses.replace(preferences, version=version + 1)
        return self.saved[preferences.key]

    async def for_notice(self, scope: str, kind: str, subject_id: str):
        self.reads += 1
        person = self.saved.get(preference_key(scope, kind, subject_id)) if scope in self.people else None
        return person, self.saved.get(preference_key(scope, TENANT))

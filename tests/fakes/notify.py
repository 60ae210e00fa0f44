"""In-memory fakes of notify's ports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.notify.domain.deliveries import CANCELLED, DEAD, DELIVERED, PENDING, SENDING, Delivery
from services.notify.repository import Endpoint
from tests.fakes.transact import FakeTransact, FakeUnitOfWork


@dataclass
class NotifyState:
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    leases: dict[str, datetime] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
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

    async def mark_delivered(self, delivery: Delivery, now: datetime, status_code: int) -> bool:
        current = self._state.deliveries.get(delivery.delivery_id)
        if current is None or current.status != SENDING or current.attempts != delivery.attempts:
            return False
        self._state.deliveries[delivery.delivery_id] = dataclasses.replace(current, status=DELIVERED)
        self._state.leases.pop(delivery.delivery_id, None)
        return True


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

    async def mark_failed(self, delivery: Delivery, next_at: datetime | None, error: str) -> None:
        current = self._state.deliveries.get(delivery.delivery_id)
        if current is None or current.status != SENDING or current.attempts != delivery.attempts:
            return
        status = DEAD if next_at is None else PENDING
        if delivery.delivery_id in self._state.cancel_requested:
            status, next_at = CANCELLED, None
        self._state.deliveries[delivery.delivery_id] = dataclasses.replace(
            current, status=status, next_attempt_at=next_at if next_at is not None else current.next_attempt_at)
        self._state.leases.pop(delivery.delivery_id, None)
        self._state.errors[delivery.delivery_id] = error

    async def rearm_dead(self, case_id: str, now: datetime, more_attempts: int) -> int:
        rearmed = 0
        for d in list(self._state.deliveries.values()):
            if d.case_id == case_id and d.status == DEAD:
                self._state.deliveries[d.delivery_id] = dataclasses.replace(
                    d, status=PENDING, next_attempt_at=now, attempt_budget=d.attempts + more_attempts)
                rearmed += 1
        return rearmed

    async def cancel_undelivered(self, case_id: str, now: datetime) -> int:
        cancelled = [d for d in self._state.deliveries.values() if d.case_id == case_id and d.status in (PENDING, DEAD)]
        for d in cancelled:
            self._state.deliveries[d.delivery_id] = dataclasses.replace(d, status=CANCELLED, next_attempt_at=None)
        in_flight = {d.delivery_id for d in self._state.deliveries.values()
                     if d.case_id == case_id and d.status == SENDING}
        self._state.cancel_requested |= in_flight
        return len(cancelled) + len(in_flight)


class InMemoryEndpoints:
    def __init__(self):
        self.endpoints: dict[str, Endpoint] = {}

    async def put(self, endpoint: Endpoint, registered_by: str, at: datetime) -> None:
        self.endpoints[endpoint.tenant_id] = endpoint

    async def get(self, tenant_id: str) -> Endpoint | None:
        return self.endpoints.get(tenant_id)


class FakeNotifyUnitOfWork(FakeUnitOfWork):
    def __init__(self, state: NotifyState):
        super().__init__(state)
        self.deliveries = InMemoryDeliveries(state)


def notify_transact() -> FakeTransact:
    return FakeTransact(NotifyState(), FakeNotifyUnitOfWork)

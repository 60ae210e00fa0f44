"""notify's MongoDB adapter: webhook endpoints and deliveries.

- `MongoDeliveries`: inside a unit of work (a delivery created with the event
  that caused it; an outcome recorded with the event it causes).
- `MongoDeliveryQueue`: single-document atomic operations outside any
  transaction: claiming a due delivery under a lease, recording a failed
  attempt, re-arming dead ones. Every write is fenced by the attempt number, so
  a sender whose lease expired and was taken over cannot overwrite the newer
  attempt's outcome.
- `MongoEndpoints`: where each tenant's notices go.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.store import UnitOfWork, insert_once

from .domain.deliveries import CANCELLED, DEAD, DELIVERED, OPINION_READY, PENDING, SENDING, Delivery

ENDPOINTS = "webhook_endpoints"
DELIVERIES = "deliveries"
ENDPOINT_CACHE_SIZE = 10_000  # tenants' endpoints held at once


@dataclass(frozen=True)
class Endpoint:
    tenant_id: str
    url: str
    secret: str


class DeliveryRepository(Protocol):
    async def add(self, delivery: Delivery) -> bool: ...
    async def add_many(self, deliveries: list[Delivery]) -> list[bool]: ...
    async def mark_delivered(self, delivery: Delivery, now: datetime, status_code: int) -> bool: ...


class DeliveryQueue(Protocol):
    async def claim_due(self, now: datetime, lease_seconds: float) -> Delivery | None: ...
    async def next_due(self) -> datetime | None: ...
    async def mark_failed(self, delivery: Delivery, next_at: datetime | None, error: str) -> None: ...
    async def rearm_dead(self, case_id: str, now: datetime, more_attempts: int) -> int: ...
    async def cancel_undelivered(self, case_id: str, now: datetime) -> int: ...


class EndpointRepository(Protocol):
    async def put(self, endpoint: Endpoint, registered_by: str, at: datetime) -> None: ...
    async def get(self, tenant_id: str) -> Endpoint | None: ...


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[DELIVERIES].create_index([("status", 1), ("next_attempt_at", 1)])
    await db[DELIVERIES].create_index([("status", 1), ("lease_until", 1)])
    await db[DELIVERIES].create_index([("case_id", 1)])


def _doc(d: Delivery) -> dict:
    doc = {"_id": d.delivery_id, "event_id": d.event_id, "case_id": d.case_id, "tenant_id": d.tenant_id,
           "recipient": d.recipient, "channel": d.channel, "body": d.body, "traceparent": d.traceparent,
           "status": d.status, "attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
           "created_at": d.created_at}
    if d.attempt_budget is not None:
        doc["attempt_budget"] = d.attempt_budget
    if d.lease_until is not None:
        doc["lease_until"] = d.lease_until
    if d.kind != OPINION_READY:
        doc["kind"] = d.kind
    return doc


def _delivery(doc: dict) -> Delivery:
    return Delivery(
        delivery_id=doc["_id"], event_id=doc["event_id"], case_id=doc["case_id"], tenant_id=doc["tenant_id"],
        recipient=doc["recipient"], channel=doc["channel"], body=bytes(doc["body"]),
        traceparent=doc.get("traceparent", ""), status=doc["status"], attempts=doc["attempts"],
        next_attempt_at=doc.get("next_attempt_at"), created_at=doc["created_at"],
        attempt_budget=doc.get("attempt_budget"), lease_until=doc.get("lease_until"),
        kind=doc.get("kind", OPINION_READY),
    )


class MongoDeliveries:
    """Inside a unit of work (`session`), or alone for guarded single-document writes."""

    def __init__(self, db: AsyncDatabase, session=None):
        self._db = db
        self._session = session

    async def add(self, delivery: Delivery) -> bool:
        """Inserts the delivery unless it is there already; True when it was inserted now."""
        return (await self.add_many([delivery]))[0]

    async def add_many(self, deliveries: list[Delivery]) -> list[bool]:
        """`add` for several, in one request."""
        return await insert_once(self._db[DELIVERIES], [_doc(d) for d in deliveries], self._session)

    async def mark_delivered(self, delivery: Delivery, now: datetime, status_code: int) -> bool:
        result = await self._db[DELIVERIES].update_one(
            {"_id": delivery.delivery_id, "status": SENDING, "attempts": delivery.attempts},
            {"$set": {"status": DELIVERED, "delivered_at": now, "last_status_code": status_code},
             "$unset": {"lease_until": ""}},
            session=self._session,
        )
        return result.modified_count == 1


class MongoDeliveryQueue:
    def __init__(self, db: AsyncDatabase):
        self._db = db

    async def claim_due(self, now: datetime, lease_seconds: float) -> Delivery | None:
        """Takes one due delivery for this worker, or else one whose sender died mid-send
        (its lease ran out). An indexed read, then a write guarded by what was read, not
        findAndModify: the embedded store scans the whole collection for findAndModify's write."""
        lease_until = now + timedelta(seconds=lease_seconds)
        for status, field in ((PENDING, "next_attempt_at"), (SENDING, "lease_until")):
            while (doc := await self._db[DELIVERIES].find_one(
                    {"status": status, field: {"$lte": now}}, sort=[(field, 1)])) is not None:
                if doc.get("cancel_requested"):  # its case was withdrawn while its sender died: never again
                    await self._db[DELIVERIES].update_one(
                        {"_id": doc["_id"], "status": status, "attempts": doc["attempts"]},
                        {"$set": {"status": CANCELLED, "cancelled_at": now}, "$unset": {"lease_until": ""}})
                    continue
                claimed = await self._db[DELIVERIES].update_one(
                    {"_id": doc["_id"], "status": status, "attempts": doc["attempts"]},
                    {"$set": {"status": SENDING, "lease_until": lease_until}, "$inc": {"attempts": 1}})
                if claimed.modified_count == 1:
                    return _delivery({**doc, "status": SENDING, "lease_until": lease_until,
                                      "attempts": doc["attempts"] + 1})
                # another sender took it first: look again
        return None

    async def next_due(self) -> datetime | None:
        """The earliest retry time of a pending delivery or lease end of one being sent."""
        times = []
        for status, field in ((PENDING, "next_attempt_at"), (SENDING, "lease_until")):
            doc = await self._db[DELIVERIES].find_one({"status": status, field: {"$ne": None}},
                                                      projection={field: 1}, sort=[(field, 1)])
            if doc is not None:
                times.append(doc[field])
        return min(times, default=None)

    async def mark_failed(self, delivery: Delivery, next_at: datetime | None, error: str) -> None:
        """Records a failed attempt: another one later, or dead; cancelled instead when its
        case was withdrawn while it was being sent."""
        update = {"status": DEAD if next_at is None else PENDING, "last_error": error[:300]}
        if next_at is not None:
            update["next_attempt_at"] = next_at
        attempt = {"_id": delivery.delivery_id, "status": SENDING, "attempts": delivery.attempts}
        result = await self._db[DELIVERIES].update_one(
            {**attempt, "cancel_requested": {"$ne": True}}, {"$set": update, "$unset": {"lease_until": ""}})
        if result.matched_count == 0:
            await self._db[DELIVERIES].update_one(
                {**attempt, "cancel_requested": True},
                {"$set": {"status": CANCELLED, "last_error": error[:300]}, "$unset": {"lease_until": ""}})

    async def rearm_dead(self, case_id: str, now: datetime, more_attempts: int) -> int:
        """Gives a case's dead deliveries another round of attempts."""
        rearmed = 0
        async for d in self._db[DELIVERIES].find({"case_id": case_id, "status": DEAD}, projection={"attempts": 1}):
            result = await self._db[DELIVERIES].update_one(
                {"_id": d["_id"], "status": DEAD, "attempts": d["attempts"]},
                {"$set": {"status": PENDING, "next_attempt_at": now, "attempt_budget": d["attempts"] + more_attempts}},
            )
            rearmed += result.modified_count
        return rearmed

    async def cancel_undelivered(self, case_id: str, now: datetime) -> int:
        """Cancels the case's deliveries waiting for an attempt or dead. One being sent
        right now is left to finish (its receiver may already have it) but is marked:
        if that attempt fails, or its sender dies, it is cancelled, not tried again."""
        result = await self._db[DELIVERIES].update_many(
            {"status": {"$in": [PENDING, DEAD]}, "case_id": case_id},
            {"$set": {"status": CANCELLED, "cancelled_at": now}, "$unset": {"next_attempt_at": ""}})
        in_flight = await self._db[DELIVERIES].update_many(
            {"status": SENDING, "case_id": case_id}, {"$set": {"cancel_requested": True, "cancelled_at": now}})
        return result.modified_count + in_flight.modified_count


class MongoEndpoints:
    def __init__(self, db: AsyncDatabase):
        self._db = db

    async def put(self, endpoint: Endpoint, registered_by: str, at: datetime) -> None:
        await self._db[ENDPOINTS].replace_one(
            {"_id": endpoint.tenant_id},
            {"_id": endpoint.tenant_id, "url": endpoint.url, "secret": endpoint.secret,
             "registered_by": registered_by, "registered_at": at},
            upsert=True,
        )

    async def get(self, tenant_id: str) -> Endpoint | None:
        doc = await self._db[ENDPOINTS].find_one({"_id": tenant_id})
        return Endpoint(doc["_id"], doc["url"], doc["secret"]) if doc else None


class CachedEndpoints:
    """Endpoints kept in memory for `ttl_seconds`: the dispatcher reads one for every
    notice it sends, and they rarely change. A registration through this replica
    takes effect at once; through another one, within `ttl_seconds` (a notice
    signed with the old secret meanwhile is refused and tried again)."""

    def __init__(self, endpoints: EndpointRepository, ttl_seconds: float, monotonic=time.monotonic):
        self._endpoints = endpoints
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cached: dict[str, tuple[float, Endpoint | None]] = {}

    async def put(self, endpoint: Endpoint, registered_by: str, at: datetime) -> None:
        self._cached.pop(endpoint.tenant_id, None)
        await self._endpoints.put(endpoint, registered_by, at)
        self._cached.pop(endpoint.tenant_id, None)  # a read that raced the write may have cached the old one

    async def get(self, tenant_id: str) -> Endpoint | None:
        hit = self._cached.get(tenant_id)
        if hit is not None and self._monotonic() < hit[0]:
            return hit[1]
        endpoint = await self._endpoints.get(tenant_id)
        if len(self._cached) >= ENDPOINT_CACHE_SIZE:
            self._cached.clear()
        self._cached[tenant_id] = (self._monotonic() + self._ttl, endpoint)
        return endpoint


class NotifyUnitOfWork:
    """What notify's use cases see of one transaction."""

    def __init__(self, uow: UnitOfWork):
        self.deliveries: DeliveryRepository = MongoDeliveries(uow.db, uow.session)
        self.emit = uow.emit
        self.after_commit = uow.after_commit

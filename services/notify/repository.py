"""notify's MongoDB adapter: webhook endpoints and deliveries.

- `MongoDeliveries`: inside a unit of work (a delivery created with the event
  that caused it; an outcome recorded with the event it causes).
- `MongoDeliveryQueue`: single-document atomic operations outside any
  transaction: claiming a due delivery under a lease, recording a failed
  attempt, re-arming dead ones. Every write is fenced by the attempt number, so
  a sender whose lease expired and was taken over cannot overwrite the newer
  attempt's outcome.
- `MongoEndpoints`: each tenant's webhook endpoints, secrets sealed at rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from secondlook.groups import Groups
from secondlook.store import UnitOfWork, insert_once

from .domain.deliveries import (
    ATTEMPTS_KEPT,
    CANCELLED,
    DEAD,
    DELIVERED,
    PENDING,
    SENDING,
    SKIPPED,
    WEBHOOK,
    Attempt,
    Delivery,
)
from .domain.endpoints import Endpoint, Secret, default_endpoint_id
from .domain.routing import DEFAULT_ENDPOINT_TYPES, OPINION_READY, stopped_by_withdrawal

# Which notices a cancellation stops: (kind, recipient, person id) -> yes or no.
Stop = Callable[[str, str, str], bool]

ENDPOINTS = "webhook_endpoints"
ENDPOINT_PLACES = "webhook_endpoint_places"  # a tenant's numbered places for endpoints, taken once each
DELIVERIES = "deliveries"
WRITES_TOGETHER = 200  # outcomes in one bulk write at most
ENDPOINT_CACHE_SIZE = 10_000  # tenants' endpoints held at once


@dataclasses.dataclass
class Written:
    """What a batch of events already has in the store."""
    routed: set[str] = dataclasses.field(default_factory=set)  # the events whose webhooks were routed
    deliveries: set[str] = dataclasses.field(default_factory=set)  # the ids of their deliveries


class DeliveryRepository(Protocol):
    async def add(self, delivery: Delivery) -> bool: ...
    async def add_many(self, deliveries: list[Delivery]) -> list[bool]: ...
    async def written(self, events: list[tuple[str, str]]) -> Written: ...
    async def mark_delivered(self, delivery: Delivery, now: datetime, attempt: Attempt) -> bool: ...
    async def mark_dead(self, delivery: Delivery, attempt: Attempt) -> str: ...


class DeliveryQueue(Protocol):
    async def claim_due(self, now: datetime, lease_seconds: float) -> Delivery | None: ...
    async def next_due(self) -> datetime | None: ...
    async def mark_failed(self, delivery: Delivery, next_at: datetime | None, attempt: Attempt) -> str: ...
    async def mark_skipped(self, delivery: Delivery, attempt: Attempt) -> bool: ...
    async def mark_cancelled(self, delivery: Delivery, now: datetime) -> bool: ...
    async def postpone(self, delivery: Delivery, until: datetime, attempt: Attempt, budget: int) -> bool: ...
    async def mark_delivered(self, delivery: Delivery, now: datetime, attempt: Attempt) -> bool: ...
    async def rearm_dead(self, case_id: str, now: datetime, more_attempts: int) -> int: ...
    async def cancel_undelivered(self, case_id: str, now: datetime, stopped: Stop = stopped_by_withdrawal) -> int: ...
    async def of_case(self, case_id: str, tenants: frozenset[str]) -> list[Delivery]: ...
    async def get(self, delivery_id: str, tenants: frozenset[str]) -> Delivery | None: ...
    async def retry_now(self, delivery: Delivery, now: datetime, more_attempts: int) -> bool: ...


class EndpointRepository(Protocol):
    async def add(self, endpoint: Endpoint, limit: int) -> bool: ...
    async def put_default(self, endpoint: Endpoint) -> None: ...
    async def of_tenant(self, tenant_id: str, fresh: bool = False) -> list[Endpoint]: ...
    async def save(self, before: Endpoint, after: Endpoint) -> bool: ...


class EndpointHealth(Protocol):
    """Inside the unit of work of a delivery that died."""

    async def count_dead(self, endpoint_id: str) -> Endpoint | None: ...
    async def disable_for_failure(self, endpoint_id: str, reason: str) -> bool: ...


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[DELIVERIES].create_index([("status", 1), ("next_attempt_at", 1)])
    await db[DELIVERIES].create_index([("status", 1), ("lease_until", 1)])
    await db[DELIVERIES].create_index([("case_id", 1)])
    await db[ENDPOINTS].create_index([("tenant_id", 1), ("created_at", 1)], name="by_tenant")


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
    if d.person_id:
        doc["person_id"] = d.person_id
    if d.expedited:
        doc["expedited"] = True
    if d.log:  # written with its first attempt's outcome (domain/deliveries.py: settled_at_once)
        doc["log"] = [_entry(a) for a in d.log[-ATTEMPTS_KEPT:]]
    if d.delivered_at is not None:
        doc.update(delivered_at=d.delivered_at, last_status_code=d.log[-1].status_code if d.log else 0)
    if d.last_error:
        doc["last_error"] = d.last_error
    if d.cancelled_at is not None:
        doc["cancelled_at"] = d.cancelled_at
    return doc


def _delivery(doc: dict) -> Delivery:
    return Delivery(
        delivery_id=doc["_id"], event_id=doc["event_id"], case_id=doc["case_id"], tenant_id=doc["tenant_id"],
        recipient=doc["recipient"], channel=doc["channel"], body=bytes(doc["body"]),
        traceparent=doc.get("traceparent", ""), status=doc["status"], attempts=doc["attempts"],
        next_attempt_at=doc.get("next_attempt_at"), created_at=doc["created_at"],
        attempt_budget=doc.get("attempt_budget"), lease_until=doc.get("lease_until"),
        kind=doc.get("kind", OPINION_READY), log=tuple(_attempt(e) for e in doc.get("log", ())),
        delivered_at=doc.get("delivered_at"), last_error=doc.get("last_error", ""),
        person_id=doc.get("person_id", ""), expedited=doc.get("expedited", False),
        cancelled_at=doc.get("cancelled_at"),
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

    async def written(self, events: list[tuple[str, str]]) -> Written:
        """What these (case id, event id) already have in the store, in one read."""
        written = Written()
        async for d in self._db[DELIVERIES].find(
                {"case_id": {"$in": sorted({c for c, _ in events})}, "event_id": {"$in": [e for _, e in events]}},
                projection={"event_id": 1, "channel": 1}, session=self._session):
            written.deliveries.add(d["_id"])
            if d["channel"] == WEBHOOK:
                written.routed.add(d["event_id"])
        return written

    async def mark_delivered(self, delivery: Delivery, now: datetime, attempt: Attempt) -> bool:
        result = await self._db[DELIVERIES].update_one(_sending(delivery), _delivered(now, attempt),
                                                       session=self._session)
        return result.modified_count == 1

    async def mark_dead(self, delivery: Delivery, attempt: Attempt) -> str:
        """The last attempt failed: DEAD (or CANCELLED, or "" when superseded; see _mark_failed)."""
        return await _mark_failed(GuardedWrites(self._db, self._session), self._db, delivery, None, attempt,
                                  self._session)


def _entry(attempt: Attempt) -> dict:
    return {"n": attempt.number, "at": attempt.at, "outcome": attempt.outcome, "status_code": attempt.status_code,
            "error": attempt.error[:300], "latency_ms": attempt.latency_ms}


def _logged(attempt: Attempt) -> dict:
    """The $push that appends an attempt to the delivery's log (the latest ATTEMPTS_KEPT kept)."""
    return {"log": {"$each": [_entry(attempt)], "$slice": -ATTEMPTS_KEPT}}


def _sending(delivery: Delivery) -> dict:
    """The guard of an attempt's outcome: the delivery is still being sent by this attempt."""
    return {"_id": delivery.delivery_id, "status": SENDING, "attempts": delivery.attempts}


def _delivered(now: datetime, attempt: Attempt) -> dict:
    # The failures before it stay in the log; last_error is what is wrong now: nothing.
    return {"$set": {"status": DELIVERED, "delivered_at": now, "last_status_code": attempt.status_code},
            "$unset": {"lease_until": "", "last_error": ""}, "$push": _logged(attempt)}


def _attempt(entry: dict) -> Attempt:
    return Attempt(number=entry["n"], at=entry["at"], outcome=entry["outcome"], status_code=entry["status_code"],
                   error=entry["error"], latency_ms=entry["latency_ms"])


class GuardedWrites:
    """Outcomes recorded outside any transaction (delivered, failed, skipped, postponed):
    each one guarded update of one delivery. Those made while one is on its way to the
    store go together in the next bulk write (secondlook/groups.py): one request for a
    burst of outcomes, and each is still told whether its guard held (an update that
    did not match leaves its token unwritten)."""

    def __init__(self, db: AsyncDatabase, session=None):
        self._db = db
        self._session = session
        self._groups = Groups(self._write, limit=1, max_size=WRITES_TOGETHER)

    async def update(self, guard: dict, change: dict) -> bool:
        if self._session is not None:  # inside a transaction: its own write
            result = await self._db[DELIVERIES].update_one(guard, change, session=self._session)
            return result.matched_count == 1
        return await self._groups.submit((guard, change))

    async def _write(self, items: list[tuple[dict, dict]]) -> list[bool]:
        tokens = [secrets.token_hex(8) for _ in items]
        result = await self._db[DELIVERIES].bulk_write(
            [UpdateOne(guard, {**change, "$set": {**change.get("$set", {}), "outcome_token": token}})
             for (guard, change), token in zip(items, tokens, strict=True)], ordered=False)
        if result.matched_count == len(items):
            return [True] * len(items)
        held = {d["_id"]: d.get("outcome_token") async for d in self._db[DELIVERIES].find(
            {"_id": {"$in": [guard["_id"] for guard, _ in items]}}, projection={"outcome_token": 1})}
        return [held.get(guard["_id"]) == token for (guard, _), token in zip(items, tokens, strict=True)]


async def _mark_failed(writes: GuardedWrites, db: AsyncDatabase, delivery: Delivery, next_at: datetime | None,
                       attempt: Attempt, session=None) -> str:
    """Records a failed attempt: another one later (PENDING), or DEAD; CANCELLED instead
    when its case was withdrawn while it was being sent; "" when the attempt's lease
    was taken over meanwhile (nothing recorded)."""
    status, error = DEAD if next_at is None else PENDING, attempt.error
    update = {"status": status, "last_error": error[:300]}
    if next_at is not None:
        update["next_attempt_at"] = next_at
    fence = {"_id": delivery.delivery_id, "status": SENDING, "attempts": delivery.attempts}
    if await writes.update({**fence, "cancel_requested": {"$ne": True}},
                           {"$set": update, "$unset": {"lease_until": ""}, "$push": _logged(attempt)}):
        return status
    result = await db[DELIVERIES].update_one(
        {**fence, "cancel_requested": True},
        {"$set": {"status": CANCELLED, "last_error": error[:300]}, "$unset": {"lease_until": ""},
         "$push": _logged(attempt)}, session=session)
    return CANCELLED if result.matched_count == 1 else ""


class MongoDeliveryQueue:
    def __init__(self, db: AsyncDatabase):
        self._db = db
        self._writes = GuardedWrites(db)

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

    async def mark_failed(self, delivery: Delivery, next_at: datetime | None, attempt: Attempt) -> str:
        return await _mark_failed(self._writes, self._db, delivery, next_at, attempt)

    async def mark_delivered(self, delivery: Delivery, now: datetime, attempt: Attempt) -> bool:
        """Outside any transaction: a notice whose delivery emits nothing."""
        return await self._writes.update(_sending(delivery), _delivered(now, attempt))

    async def mark_skipped(self, delivery: Delivery, attempt: Attempt) -> bool:
        return await self._writes.update(_sending(delivery), {
            "$set": {"status": SKIPPED, "last_error": attempt.error[:300]}, "$unset": {"lease_until": ""},
            "$push": _logged(attempt)})

    async def mark_cancelled(self, delivery: Delivery, now: datetime) -> bool:
        """Claimed, and not sent: its case was withdrawn before its attempt began."""
        return await self._writes.update(_sending(delivery), {
            "$set": {"status": CANCELLED, "cancelled_at": now}, "$unset": {"lease_until": ""}})

    async def postpone(self, delivery: Delivery, until: datetime, attempt: Attempt, budget: int) -> bool:
        """Back to waiting until `until`, with `budget` attempts (the one claimed not spent);
        cancelled instead when its case was withdrawn meanwhile (False then, as when the
        lease was taken over)."""
        if await self._writes.update({**_sending(delivery), "cancel_requested": {"$ne": True}}, {
                "$set": {"status": PENDING, "next_attempt_at": until, "attempt_budget": budget},
                "$unset": {"lease_until": ""}, "$push": _logged(attempt)}):
            return True
        await self._db[DELIVERIES].update_one(
            {**_sending(delivery), "cancel_requested": True},
            {"$set": {"status": CANCELLED}, "$unset": {"lease_until": ""}, "$push": _logged(attempt)})
        return False

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

    async def of_case(self, case_id: str, tenants: frozenset[str]) -> list[Delivery]:
        """The case's deliveries, oldest first, if the case is one of `tenants`'."""
        docs = await self._db[DELIVERIES].find({"case_id": case_id, "tenant_id": {"$in": sorted(tenants)}}) \
            .sort([("created_at", 1), ("_id", 1)]).to_list(length=1000)
        return [_delivery(d) for d in docs]

    async def get(self, delivery_id: str, tenants: frozenset[str]) -> Delivery | None:
        doc = await self._db[DELIVERIES].find_one({"_id": delivery_id, "tenant_id": {"$in": sorted(tenants)}})
        return _delivery(doc) if doc else None

    async def retry_now(self, delivery: Delivery, now: datetime, more_attempts: int) -> bool:
        """RetryDelivery: a dead delivery due again now, with `more_attempts` more; False when
        it is no longer dead as read (delivered, cancelled or already re-armed meanwhile)."""
        result = await self._db[DELIVERIES].update_one(
            {"_id": delivery.delivery_id, "status": DEAD, "attempts": delivery.attempts},
            {"$set": {"status": PENDING, "next_attempt_at": now, "attempt_budget": delivery.attempts + more_attempts}})
        return result.modified_count == 1

    async def cancel_undelivered(self, case_id: str, now: datetime, stopped: Stop = stopped_by_withdrawal) -> int:
        """Cancels the case's deliveries `stopped` names (by default those a withdrawal
        stops: an opinion's, a request for information, a reviewer's; not the
        withdrawal's own notices, nor a status's) waiting for an attempt or dead. One
        being sent right now is left to finish (its receiver may already have it) but
        is marked: if that attempt fails, or its sender dies, it is cancelled, not
        tried again."""
        ids = [d["_id"] async for d in self._db[DELIVERIES].find(
            {"case_id": case_id, "status": {"$in": [PENDING, DEAD, SENDING]}},
            projection={"kind": 1, "recipient": 1, "person_id": 1})
            if stopped(d.get("kind", OPINION_READY), d["recipient"], d.get("person_id", ""))]
        if not ids:
            return 0
        stopped = {"_id": {"$in": ids}}
        result = await self._db[DELIVERIES].update_many(
            {**stopped, "status": {"$in": [PENDING, DEAD]}},
            {"$set": {"status": CANCELLED, "cancelled_at": now}, "$unset": {"next_attempt_at": ""}})
        in_flight = await self._db[DELIVERIES].update_many(
            {**stopped, "status": SENDING}, {"$set": {"cancel_requested": True, "cancelled_at": now}})
        return result.modified_count + in_flight.modified_count


class Cipher(Protocol):
    """Seals secrets at rest (secondlook/phi.py's PhiCipher, or a test's stand-in)."""

    async def seal(self, value: Any) -> Any: ...
    async def open(self, value: Any) -> Any: ...


def _endpoint_doc(e: Endpoint, sealed: list) -> dict:
    return {"_id": e.endpoint_id, "tenant_id": e.tenant_id, "url": e.url, "event_types": list(e.event_types),
            "description": e.description, "created_at": e.created_at, "created_by": e.created_by,
            "rotated_at": e.rotated_at, "disabled_reason": e.disabled_reason, "consecutive_dead": e.consecutive_dead,
            "default": e.default, "version": e.version,
            "secrets": [{"value": v, "expires_at": s.expires_at} for v, s in zip(sealed, e.secrets, strict=True)]}


class MongoEndpoints:
    """Each endpoint a document, its secrets sealed (field-level encryption, like
    intake's PHI). Inside a unit of work with `session` (an escalation counted with
    the delivery that died), else alone: guarded single-document writes."""

    def __init__(self, db: AsyncDatabase, cipher: Cipher, session=None):
        self._db = db
        self._cipher = cipher
        self._session = session

    async def _doc(self, e: Endpoint) -> dict:
        return _endpoint_doc(e, [await self._cipher.seal(s.value) for s in e.secrets])

    async def _endpoint(self, doc: dict) -> Endpoint:
        secrets = tuple([Secret(await self._cipher.open(s["value"]), s.get("expires_at")) for s in doc["secrets"]])
        return Endpoint(
            endpoint_id=doc["_id"], tenant_id=doc["tenant_id"], url=doc["url"], secrets=secrets,
            # A default endpoint from before subscriptions: the notices it always received.
            event_types=tuple(doc.get("event_types") or (DEFAULT_ENDPOINT_TYPES if doc.get("default") else ())),
            description=doc.get("description", ""),
            created_at=doc.get("created_at"), created_by=doc.get("created_by", ""), rotated_at=doc.get("rotated_at"),
            disabled_reason=doc.get("disabled_reason", ""), consecutive_dead=doc.get("consecutive_dead", 0),
            default=doc.get("default", False), version=doc.get("version", 0))

    async def add(self, endpoint: Endpoint, limit: int) -> bool:
        """Inserts it unless the tenant has `limit` endpoints already (False then), however
        many are created at once: each creation first takes a numbered place (one
        document per tenant and number, below `limit`, from the count of its endpoints
        on): of two creations at once, one takes the place and the other the next one,
        or none is left. Endpoints are never deleted, so a place once taken stays taken
        (one whose endpoint could not be written is given back)."""
        tenant, doc = endpoint.tenant_id, await self._doc(endpoint)  # sealed before a place is taken
        place = await self._db[ENDPOINTS].count_documents({"tenant_id": tenant}, limit=limit)
        while place < limit:
            taken = f"{tenant}:{place}"
            try:
                await self._db[ENDPOINT_PLACES].insert_one({"_id": taken, "endpoint_id": endpoint.endpoint_id})
            except DuplicateKeyError:
                place += 1  # taken at the same moment by another creation
                continue
            try:
                await self._db[ENDPOINTS].insert_one(doc)
            except BaseException:  # given back, so a failed creation does not lower the limit
                await asyncio.shield(self._db[ENDPOINT_PLACES].delete_one({"_id": taken,
                                                                           "endpoint_id": endpoint.endpoint_id}))
                raise
            return True
        return False

    async def put_default(self, endpoint: Endpoint) -> None:
        """RegisterWebhook: the tenant's default endpoint, replaced whole (its version moves
        on, so a change made from an earlier read of it cannot land)."""
        doc = await self._doc(endpoint)
        del doc["_id"], doc["version"]
        await self._db[ENDPOINTS].update_one({"_id": endpoint.endpoint_id}, {"$set": doc, "$inc": {"version": 1}},
                                             upsert=True)

    async def add_if_absent(self, endpoint: Endpoint) -> None:
        """Inserts it unless an endpoint of its id exists (whatever that one holds)."""
        doc = await self._doc(endpoint)
        await self._db[ENDPOINTS].update_one({"_id": endpoint.endpoint_id}, {"$setOnInsert": doc}, upsert=True)

    async def of_tenant(self, tenant_id: str, fresh: bool = False) -> list[Endpoint]:
        docs = await self._db[ENDPOINTS].find({"tenant_id": tenant_id}, session=self._session) \
            .sort([("created_at", 1), ("_id", 1)]).to_list()
        return [await self._endpoint(d) for d in docs]

    async def save(self, before: Endpoint, after: Endpoint) -> bool:
        """Records `after` if the endpoint is still at `before`'s version; False when it changed meanwhile."""
        doc = await self._doc(dataclasses.replace(after, version=before.version + 1))
        result = await self._db[ENDPOINTS].replace_one(
            {"_id": before.endpoint_id, "tenant_id": before.tenant_id, "version": before.version}, doc)
        return result.modified_count == 1

    async def count_dead(self, endpoint_id: str) -> Endpoint | None:
        """One more delivery to it died: the endpoint as it is now (None: gone)."""
        await self._db[ENDPOINTS].update_one({"_id": endpoint_id}, {"$inc": {"consecutive_dead": 1, "version": 1}},
                                             session=self._session)
        doc = await self._db[ENDPOINTS].find_one({"_id": endpoint_id}, session=self._session)
        return await self._endpoint(doc) if doc else None

    async def disable_for_failure(self, endpoint_id: str, reason: str) -> bool:
        """Disables it unless it is disabled already; True when this call did."""
        result = await self._db[ENDPOINTS].update_one(
            {"_id": endpoint_id, "disabled_reason": ""},
            {"$set": {"disabled_reason": reason}, "$inc": {"version": 1}}, session=self._session)
        return result.modified_count == 1

    async def delivered_to(self, endpoint_id: str) -> None:
        """A delivery got through: the count of deaths in a row starts again."""
        await self._db[ENDPOINTS].update_one({"_id": endpoint_id, "consecutive_dead": {"$gt": 0}},
                                             {"$set": {"consecutive_dead": 0}, "$inc": {"version": 1}})


async def migrate_endpoints(db: AsyncDatabase, cipher: Cipher) -> int:
    """Endpoints registered by earlier versions (one per tenant, keyed by the tenant,
    its secret in clear) become the tenant's default endpoint, secret sealed."""
    moved = 0
    async for doc in db[ENDPOINTS].find({"tenant_id": {"$exists": False}}):
        tenant = doc["_id"]
        endpoint = Endpoint(endpoint_id=default_endpoint_id(tenant), tenant_id=tenant, url=doc["url"],
                            secrets=(Secret(doc["secret"]),), created_at=doc.get("registered_at"),
                            created_by=doc.get("registered_by", ""), default=True,
                            event_types=DEFAULT_ENDPOINT_TYPES)
        # Insert-if-absent: a rerun after a crash, or another replica migrating too, must not
        # overwrite a default endpoint the tenant has changed since.
        await MongoEndpoints(db, cipher).add_if_absent(endpoint)
        await db[ENDPOINTS].delete_one({"_id": tenant, "tenant_id": {"$exists": False}})
        moved += 1
    return moved


class CachedEndpoints:
    """A tenant's endpoints kept in memory for `ttl_seconds`: every notice is routed
    and signed from them, and they rarely change. A change through this replica
    takes effect here at once; through another one, within `ttl_seconds` (a notice
    signed with a secret just retired meanwhile is refused and tried again)."""

    def __init__(self, endpoints: MongoEndpoints, ttl_seconds: float, monotonic=time.monotonic):
        self._endpoints = endpoints
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cached: dict[str, tuple[float, list[Endpoint]]] = {}

    def forget(self, tenant_id: str) -> None:
        self._cached.pop(tenant_id, None)

    async def of_tenant(self, tenant_id: str, fresh: bool = False) -> list[Endpoint]:
        """From memory for routing; `fresh` (a tenant's command) from the store."""
        hit = self._cached.get(tenant_id)
        if not fresh and hit is not None and self._monotonic() < hit[0]:
            return hit[1]
        endpoints = await self._endpoints.of_tenant(tenant_id)
        if len(self._cached) >= ENDPOINT_CACHE_SIZE:
            self._cached.clear()
        self._cached[tenant_id] = (self._monotonic() + self._ttl, endpoints)
        return endpoints

    async def add(self, endpoint: Endpoint, limit: int) -> bool:
        try:
            return await self._endpoints.add(endpoint, limit)
        finally:
            self.forget(endpoint.tenant_id)

    async def put_default(self, endpoint: Endpoint) -> None:
        try:
            await self._endpoints.put_default(endpoint)
        finally:
            self.forget(endpoint.tenant_id)  # a read that raced the write may have cached the old one

    async def save(self, before: Endpoint, after: Endpoint) -> bool:
        try:
            return await self._endpoints.save(before, after)
        finally:
            self.forget(before.tenant_id)

    async def delivered_to(self, endpoint: Endpoint) -> None:
        if endpoint.consecutive_dead:  # known from memory: a delivery to a healthy endpoint writes nothing
            await self._endpoints.delivered_to(endpoint.endpoint_id)
            self.forget(endpoint.tenant_id)


class NotifyUnitOfWork:
    """What notify's use cases see of one transaction."""

    def __init__(self, uow: UnitOfWork, cipher: Cipher):
        self.deliveries: DeliveryRepository = MongoDeliveries(uow.db, uow.session)
        self.endpoints: EndpointHealth = MongoEndpoints(uow.db, cipher, uow.session)
        self.emit = uow.emit
        self.after_commit = uow.after_commit

"""notify's MongoDB collections: webhook endpoints and deliveries.

A delivery's id is derived from (event, recipient, channel), so however often
an event arrives there is one delivery record for it. Its POSTs are
at-least-once (a sender may die after the receiver answered), under one stable
webhook-id that receivers use to drop repeats.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from secondlook.store import UnitOfWork

ENDPOINTS = "webhook_endpoints"
DELIVERIES = "deliveries"

PENDING, SENDING, DELIVERED, DEAD = "pending", "sending", "delivered", "dead"


def delivery_id(event_id: str, recipient: str, channel: str) -> str:
    return f"{event_id}:{recipient}:{channel}"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[DELIVERIES].create_index([("status", 1), ("next_attempt_at", 1)])
    await db[DELIVERIES].create_index([("case_id", 1)])


async def put_endpoint(db: AsyncDatabase, tenant_id: str, doc: dict) -> None:
    await db[ENDPOINTS].replace_one({"_id": tenant_id}, {"_id": tenant_id, **doc}, upsert=True)


async def endpoint_for(db: AsyncDatabase, tenant_id: str) -> dict | None:
    return await db[ENDPOINTS].find_one({"_id": tenant_id})


async def add_delivery(uow: UnitOfWork, doc: dict) -> None:
    await uow.db[DELIVERIES].insert_one(doc, session=uow.session)


async def claim_due(db: AsyncDatabase, now: datetime, lease_seconds: float) -> dict | None:
    """Takes one due delivery (or one whose sender died mid-send) for this worker."""
    return await db[DELIVERIES].find_one_and_update(
        {"$or": [
            {"status": PENDING, "next_attempt_at": {"$lte": now}},
            {"status": SENDING, "lease_until": {"$lte": now}},
        ]},
        {"$set": {"status": SENDING, "lease_until": now + timedelta(seconds=lease_seconds)},
         "$inc": {"attempts": 1}},
        sort=[("next_attempt_at", 1)],
        return_document=ReturnDocument.AFTER,
    )


async def mark_delivered(uow: UnitOfWork, delivery: dict, now: datetime, status_code: int) -> bool:
    # Fenced by the attempt number: a sender whose lease expired and was taken
    # over cannot overwrite the newer attempt's outcome.
    result = await uow.db[DELIVERIES].update_one(
        {"_id": delivery["_id"], "status": SENDING, "attempts": delivery["attempts"]},
        {"$set": {"status": DELIVERED, "delivered_at": now, "last_status_code": status_code},
         "$unset": {"lease_until": ""}},
        session=uow.session,
    )
    return result.modified_count == 1


async def mark_failed(db: AsyncDatabase, delivery: dict, next_at: datetime | None, error: str) -> None:
    update = {"status": DEAD if next_at is None else PENDING, "last_error": error[:300]}
    if next_at is not None:
        update["next_attempt_at"] = next_at
    await db[DELIVERIES].update_one({"_id": delivery["_id"], "status": SENDING, "attempts": delivery["attempts"]},
                                    {"$set": update, "$unset": {"lease_until": ""}})


async def rearm_dead(db: AsyncDatabase, case_id: str, now: datetime, more_attempts: int) -> int:
    """Gives a case's dead deliveries another round of attempts (a redrive asked)."""
    cursor = db[DELIVERIES].find({"case_id": case_id, "status": DEAD}, projection={"attempts": 1})
    rearmed = 0
    async for d in cursor:
        result = await db[DELIVERIES].update_one(
            {"_id": d["_id"], "status": DEAD, "attempts": d["attempts"]},
            {"$set": {"status": PENDING, "next_attempt_at": now,
                      "attempt_budget": d["attempts"] + more_attempts}},
        )
        rearmed += result.modified_count
    return rearmed

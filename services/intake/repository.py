"""intake's MongoDB collections: cases, with their status projection and timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from secondlook.store import UnitOfWork

from .domain.lifecycle import SYSTEM_STAGES, TimelineEntry

CASES = "cases"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[CASES].create_index(
        [("tenant_id", ASCENDING), ("client_request_id", ASCENDING)], unique=True, name="idempotency_key"
    )
    await db[CASES].create_index([("next_redrive_at", ASCENDING)], name="sweeper")


def entry_doc(entry: TimelineEntry) -> dict:
    return {
        "status": entry.status,
        "event_type": entry.event_type,
        "event_id": entry.event_id,
        "producer": entry.producer,
        "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at,
    }


async def find_by_request_id(uow: UnitOfWork, tenant_id: str, client_request_id: str) -> dict | None:
    return await uow.db[CASES].find_one(
        {"tenant_id": tenant_id, "client_request_id": client_request_id}, session=uow.session
    )


async def insert(uow: UnitOfWork, doc: dict) -> None:
    await uow.db[CASES].insert_one(doc, session=uow.session)


async def get(uow: UnitOfWork, case_id: str) -> dict | None:
    return await uow.db[CASES].find_one({"_id": case_id}, session=uow.session)


async def get_for_tenant(db: AsyncDatabase, case_id: str, tenant_id: str) -> dict | None:
    return await db[CASES].find_one({"_id": case_id, "tenant_id": tenant_id})


async def record_transition(
    uow: UnitOfWork, case_id: str, status: int, entry: TimelineEntry, status_changed: bool,
    stuck_after: float, extra: dict | None = None,
) -> None:
    update: dict = {
        "$push": {"timeline": entry_doc(entry)},
        "$addToSet": {"seen_event_ids": entry.event_id},
    }
    if status_changed:
        update["$set"] = {
            "status": status,
            "updated_at": entry.recorded_at,
            "redrives": 0,
            # Only a stage the system owns is watched by the sweeper.
            "next_redrive_at": entry.recorded_at + timedelta(seconds=stuck_after)
            if status in SYSTEM_STAGES
            else None,
            **(extra or {}),
        }
    elif extra:
        update["$set"] = extra
    await uow.db[CASES].update_one({"_id": case_id}, update, session=uow.session)


async def due_for_redrive(db: AsyncDatabase, now: datetime, limit: int) -> list[dict]:
    """Cases stuck in a stage the system owns: the index makes this cost what is due, not what is open."""
    cursor = db[CASES].find(
        {"next_redrive_at": {"$ne": None, "$lte": now}, "status": {"$in": sorted(SYSTEM_STAGES)}},
        projection={"_id": 1, "tenant_id": 1, "status": 1, "updated_at": 1, "redrives": 1, "traceparent": 1},
    )
    return await cursor.limit(limit).to_list()


async def mark_redriven(uow: UnitOfWork, case: dict, next_at: datetime) -> bool:
    """Bumps the redrive counter if nobody else did since `case` was read."""
    result = await uow.db[CASES].update_one(
        {"_id": case["_id"], "redrives": case.get("redrives", 0), "status": case["status"]},
        {"$inc": {"redrives": 1}, "$set": {"next_redrive_at": next_at}},
        session=uow.session,
    )
    return result.modified_count == 1

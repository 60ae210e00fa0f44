"""matching's specialist directory in MongoDB, with atomic capacity reservation."""

from __future__ import annotations

import json
from pathlib import Path

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.store import UnitOfWork

from .domain.matcher import Specialist

SPECIALISTS = "specialists"
ASSIGNMENTS = "assignments"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[SPECIALISTS].create_index([("specialties", 1), ("licensed_in", 1)])
    await db[ASSIGNMENTS].create_index([("case_id", 1)])


async def seed_if_empty(db: AsyncDatabase, path: Path | None) -> int:
    if path is None or await db[SPECIALISTS].estimated_document_count() > 0:
        return 0
    entries = json.loads(Path(path).read_text())
    docs = [{**e, "_id": e["specialist_id"], "free_slots": e["capacity"]} for e in entries]
    if docs:
        await db[SPECIALISTS].insert_many(docs)
    return len(docs)


def _specialist(doc: dict) -> Specialist:
    return Specialist(
        specialist_id=doc["_id"],
        specialties=tuple(doc["specialties"]),
        licensed_in=frozenset(doc["licensed_in"]),
        languages=frozenset(doc["languages"]),
        capacity=int(doc["capacity"]),
        free_slots=int(doc["free_slots"]),
        accepting=bool(doc.get("accepting", True)),
        turnaround_days=float(doc.get("turnaround_days", 5.0)),
    )


async def candidates(uow: UnitOfWork, specialties: tuple[str, ...], jurisdiction: str) -> list[Specialist]:
    """Pre-filters in the database on the indexed hard rules; the domain applies them all."""
    cursor = uow.db[SPECIALISTS].find(
        {"specialties": {"$in": list(specialties)}, "licensed_in": jurisdiction}, session=uow.session
    )
    return [_specialist(d) async for d in cursor]


async def reserve(uow: UnitOfWork, specialist_id: str) -> bool:
    """Takes one slot if one is free. Atomic: two workers can never overbook."""
    doc = await uow.db[SPECIALISTS].find_one_and_update(
        {"_id": specialist_id, "accepting": True, "free_slots": {"$gt": 0}},
        {"$inc": {"free_slots": -1}},
        session=uow.session,
    )
    return doc is not None


async def record_assignment(uow: UnitOfWork, doc: dict) -> None:
    await uow.db[ASSIGNMENTS].insert_one(doc, session=uow.session)


async def release(uow: UnitOfWork, assignment_id: str, now) -> bool:
    """Gives the slot back once the assignment's work is done; once per assignment."""
    assignment = await uow.db[ASSIGNMENTS].find_one_and_update(
        {"_id": assignment_id, "state": "OFFERED"},
        {"$set": {"state": "COMPLETED", "completed_at": now}},
        session=uow.session,
    )
    if assignment is None:
        return False
    await uow.db[SPECIALISTS].update_one(
        {"_id": assignment["specialist_id"]}, {"$inc": {"free_slots": 1}}, session=uow.session
    )
    return True

"""matching's MongoDB adapter: the specialist directory, with atomic capacity
reservation, and the offers it made."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.store import UnitOfWork

from .domain.matcher import Specialist
from .domain.offers import COMPLETED, OFFERED, Offer

SPECIALISTS = "specialists"
ASSIGNMENTS = "assignments"


class MatchingRepository(Protocol):
    async def candidates(self, specialties: tuple[str, ...], jurisdiction: str) -> list[Specialist]: ...
    async def reserve(self, specialist_id: str) -> bool: ...
    async def add_offer(self, offer: Offer) -> None: ...
    async def complete(self, assignment_id: str, now: datetime) -> str | None: ...
    async def release(self, specialist_id: str) -> None: ...


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[SPECIALISTS].create_index([("specialties", 1), ("licensed_in", 1)])
    await db[ASSIGNMENTS].create_index([("case_id", 1)])


async def seed_if_empty(db: AsyncDatabase, path: Path | None) -> int:
    """Loads the synthetic directory into an empty one (development and demos)."""
    if path is None or await db[SPECIALISTS].estimated_document_count() > 0:
        return 0
    entries = json.loads(Path(path).read_text())
    docs = [{**e, "_id": e["specialist_id"], "free_slots": e["capacity"]} for e in entries]
    if docs:
        await db[SPECIALISTS].insert_many(docs)
    return len(docs)


def _specialist(doc: dict) -> Specialist:
    return Specialist(
        specialist_id=doc["_id"], specialties=tuple(doc["specialties"]), licensed_in=frozenset(doc["licensed_in"]),
        languages=frozenset(doc["languages"]), capacity=int(doc["capacity"]), free_slots=int(doc["free_slots"]),
        accepting=bool(doc.get("accepting", True)), turnaround_days=float(doc.get("turnaround_days", 5.0)),
    )


class MongoMatchingRepository:
    def __init__(self, uow: UnitOfWork):
        self._db = uow.db
        self._session = uow.session

    async def candidates(self, specialties: tuple[str, ...], jurisdiction: str) -> list[Specialist]:
        """Pre-filters in the database on the indexed hard rules; the domain applies them all."""
        cursor = self._db[SPECIALISTS].find({"specialties": {"$in": list(specialties)}, "licensed_in": jurisdiction},
                                            session=self._session)
        return [_specialist(d) async for d in cursor]

    async def reserve(self, specialist_id: str) -> bool:
        """Takes one slot if one is free. Atomic: two workers can never overbook."""
        doc = await self._db[SPECIALISTS].find_one_and_update(
            {"_id": specialist_id, "accepting": True, "free_slots": {"$gt": 0}},
            {"$inc": {"free_slots": -1}}, session=self._session,
        )
        return doc is not None

    async def add_offer(self, offer: Offer) -> None:
        await self._db[ASSIGNMENTS].insert_one({
            "_id": offer.assignment_id, "case_id": offer.case_id, "tenant_id": offer.tenant_id,
            "specialist_id": offer.specialist_id, "specialty": offer.specialty, "score": offer.score,
            "explanation": offer.explanation, "offered_at": offer.offered_at, "respond_by": offer.respond_by,
            "state": offer.state,
        }, session=self._session)

    async def complete(self, assignment_id: str, now: datetime) -> str | None:
        """Marks the offer's work done, once; returns its specialist (None if done already or unknown)."""
        doc = await self._db[ASSIGNMENTS].find_one_and_update(
            {"_id": assignment_id, "state": OFFERED}, {"$set": {"state": COMPLETED, "completed_at": now}},
            session=self._session,
        )
        return doc["specialist_id"] if doc else None

    async def release(self, specialist_id: str) -> None:
        await self._db[SPECIALISTS].update_one({"_id": specialist_id}, {"$inc": {"free_slots": 1}},
                                               session=self._session)


class MatchingUnitOfWork:
    """What matching's use cases see of one transaction."""

    def __init__(self, uow: UnitOfWork):
        self.directory: MatchingRepository = MongoMatchingRepository(uow)
        self.emit = uow.emit
        self.after_commit = uow.after_commit

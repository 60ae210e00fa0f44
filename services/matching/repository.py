"""matching's MongoDB adapter: the specialist directory, with atomic capacity
reservation, and the offers it made.

A specialist's document holds the assignments that hold one of its slots
(`holding`): a reservation takes a slot and records the assignment, a release
gives the slot back only if the assignment still holds it. Both are one
single-document write, so a release needs no transaction and no marker: a
repeat finds the assignment gone and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from secondlook.store import UnitOfWork

from .domain.matcher import Specialist
from .domain.offers import Offer

SPECIALISTS = "specialists"
ASSIGNMENTS = "assignments"
WITHDRAWN = "withdrawn_cases"  # cases withdrawn: never matched again, whatever arrives late


class MatchingRepository(Protocol):
    async def candidates(self, specialties: tuple[str, ...], jurisdiction: str) -> list[Specialist]: ...
    async def reserve(self, specialist_id: str, assignment_id: str) -> bool: ...
    async def add_offer(self, offer: Offer) -> None: ...
    async def release(self, holds: list[tuple[str, str]]) -> list[bool | None]: ...
    async def offers_for_case(self, case_id: str) -> list[tuple[str, str]]: ...
    async def mark_withdrawn(self, case_id: str) -> None: ...
    async def is_withdrawn(self, case_id: str) -> bool: ...


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[SPECIALISTS].create_index([("specialties", 1), ("licensed_in", 1)])
    await db[ASSIGNMENTS].create_index([("case_id", 1)])


async def seed_if_empty(db: AsyncDatabase, path: Path | None) -> int:
    """Loads the synthetic directory into an empty one (development and demos)."""
    if path is None or await db[SPECIALISTS].estimated_document_count() > 0:
        return 0
    entries = json.loads(Path(path).read_text())
    docs = [{**e, "_id": e["specialist_id"], "free_slots": e["capacity"], "holding": []} for e in entries]
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
    """Inside a unit of work (`session`), or alone for guarded single-document writes."""

    def __init__(self, db: AsyncDatabase, session=None):
        self._db = db
        self._session = session

    async def candidates(self, specialties: tuple[str, ...], jurisdiction: str) -> list[Specialist]:
        """Pre-filters in the database on the indexed hard rules; the domain applies them all."""
        cursor = self._db[SPECIALISTS].find({"specialties": {"$in": list(specialties)}, "licensed_in": jurisdiction},
                                            session=self._session)
        return [_specialist(d) async for d in cursor]

    async def reserve(self, specialist_id: str, assignment_id: str) -> bool:
        """Takes one slot for the assignment if one is free. Atomic: two workers can never overbook."""
        result = await self._db[SPECIALISTS].update_one(
            {"_id": specialist_id, "accepting": True, "free_slots": {"$gt": 0}},
            {"$inc": {"free_slots": -1}, "$push": {"holding": assignment_id}}, session=self._session,
        )
        return result.modified_count == 1

    async def add_offer(self, offer: Offer) -> None:
        await self._db[ASSIGNMENTS].insert_one({
            "_id": offer.assignment_id, "case_id": offer.case_id, "tenant_id": offer.tenant_id,
            "specialist_id": offer.specialist_id, "specialty": offer.specialty, "score": offer.score,
            "explanation": offer.explanation, "offered_at": offer.offered_at, "respond_by": offer.respond_by,
        }, session=self._session)

    async def offers_for_case(self, case_id: str) -> list[tuple[str, str]]:
        """(specialist, assignment) of every offer made for the case."""
        cursor = self._db[ASSIGNMENTS].find({"case_id": case_id}, {"specialist_id": 1}, session=self._session)
        return [(d["specialist_id"], d["_id"]) async for d in cursor]

    async def mark_withdrawn(self, case_id: str) -> None:
        await self._db[WITHDRAWN].update_one({"_id": case_id}, {"$setOnInsert": {"case_id": case_id}}, upsert=True,
                                             session=self._session)

    async def is_withdrawn(self, case_id: str) -> bool:
        return await self._db[WITHDRAWN].find_one({"_id": case_id}, {"_id": 1}, session=self._session) is not None

    async def release(self, holds: list[tuple[str, str]]) -> list[bool | None]:
        """Gives back each (specialist, assignment)'s slot if the assignment still holds
        it, in one request. Per hold True (released now) or False (it did not hold
        one: released before); None when some of a batch did not: which, one
        request cannot tell (release those one at a time to know)."""
        if len(holds) == 1:
            (specialist_id, assignment_id), = holds
            result = await self._db[SPECIALISTS].update_one(*_release(specialist_id, assignment_id),
                                                            session=self._session)
            return [result.modified_count == 1]
        result = await self._db[SPECIALISTS].bulk_write([UpdateOne(*_release(*h)) for h in holds], ordered=False,
                                                         session=self._session)
        return [True] * len(holds) if result.modified_count == len(holds) else [None] * len(holds)


def _release(specialist_id: str, assignment_id: str) -> tuple[dict, dict]:
    return ({"_id": specialist_id, "holding": assignment_id},
            {"$inc": {"free_slots": 1}, "$pull": {"holding": assignment_id}})


class MatchingUnitOfWork:
    """What matching's use cases see of one transaction."""

    def __init__(self, uow: UnitOfWork):
        self.directory: MatchingRepository = MongoMatchingRepository(uow.db, uow.session)
        self.emit = uow.emit
        self.after_commit = uow.after_commit

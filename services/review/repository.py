"""review's MongoDB collections: assignments (the inbox) and opinions."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.store import UnitOfWork

from .domain.assignment import IllegalAction

ASSIGNMENTS = "assignments"
OPINIONS = "opinions"


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[ASSIGNMENTS].create_index([("specialist_id", 1), ("state", 1)])


async def add_offer(uow: UnitOfWork, doc: dict) -> None:
    await uow.db[ASSIGNMENTS].update_one(
        {"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=uow.session
    )


async def get_for_specialist(uow: UnitOfWork, assignment_id: str, specialist_id: str) -> dict | None:
    return await uow.db[ASSIGNMENTS].find_one(
        {"_id": assignment_id, "specialist_id": specialist_id}, session=uow.session
    )


async def list_for_specialist(db: AsyncDatabase, specialist_id: str, states: list[int]) -> list[dict]:
    query: dict = {"specialist_id": specialist_id}
    if states:
        query["state"] = {"$in": states}
    return await db[ASSIGNMENTS].find(query).sort("offered_at", 1).limit(500).to_list()


async def set_state(uow: UnitOfWork, doc: dict, new_state: int, at_field: str, now) -> dict:
    """Moves the assignment on, guarded by the state it was read in."""
    updated = await uow.db[ASSIGNMENTS].find_one_and_update(
        {"_id": doc["_id"], "state": doc["state"]},
        {"$set": {"state": new_state, at_field: now}},
        session=uow.session,
        return_document=True,
    )
    if updated is None:
        # Cannot happen inside a snapshot transaction (a concurrent change is a
        # write conflict, which the driver retries); refuse rather than guess.
        raise IllegalAction("the assignment changed while this call ran; read it again")
    return updated


async def add_opinion(uow: UnitOfWork, doc: dict) -> None:
    await uow.db[OPINIONS].insert_one(doc, session=uow.session)

"""The kernel's change-stream follower on the real store: what another replica
committed reaches this one's watchers (WatchCase, WatchAssignments)."""

from __future__ import annotations

import asyncio

import pytest

from secondlook.changes import follow_changes
from tests.conftest import eventually

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("full_document", [False, True])
async def test_every_insert_and_update_is_passed_on_with_its_key(store, full_document):
    collection = store.db["followed"]
    seen: list[dict] = []
    gaps: list[int] = []
    follower = asyncio.create_task(follow_changes(collection, seen.append, full_document=full_document,
                                                  on_gap=lambda: gaps.append(1)))
    try:
        async def following():  # the stream is open once a write made after it shows up
            await collection.update_one({"_id": "probe"}, {"$inc": {"n": 1}}, upsert=True)
            return any(c["documentKey"]["_id"] == "probe" for c in seen)

        await eventually(following, 15, "the change stream to follow the collection")
        assert gaps == [1]  # it started from now: whoever waited before must look again
        del seen[:]
        await collection.insert_one({"_id": "case-1", "status": 1})
        await collection.update_one({"_id": "case-1"}, {"$set": {"status": 2}})

        async def both():
            of_case = [c for c in seen if c["documentKey"]["_id"] == "case-1"]
            return of_case if len(of_case) >= 2 else None

        # Read before anything else is written: the full document is looked up when the
        # change is read, so a delete right after the update would make it None.
        changes = await eventually(both, 15, "the insert and the update passed on")
        assert [c["operationType"] for c in changes] == ["insert", "update"]
        if full_document:
            assert changes[1]["fullDocument"] == {"_id": "case-1", "status": 2}
        else:
            assert changes[1].get("fullDocument") is None

        await collection.delete_one({"_id": "case-1"})  # not a write a watcher follows
        await collection.insert_one({"_id": "after"})

        async def after():
            return any(c["documentKey"]["_id"] == "after" for c in seen)

        await eventually(after, 15, "the write after the delete passed on")
        assert [c["operationType"] for c in seen if c["documentKey"]["_id"] == "case-1"] == ["insert", "update"]
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)

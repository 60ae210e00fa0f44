"""Following a collection's change stream: how a replica learns of what the
others committed (the feeds of WatchAssignments and WatchCase).

An awaiting read on the store: when nothing changes it costs next to nothing.
An interrupted stream resumes where it left off; when it starts from now instead
(at first, or when the store no longer has that point in its history) the
caller's watchers are ended, and their clients resume from their own positions,
which are read from the store.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from secondlook import backoff
from secondlook.logging import get_logger

log = get_logger(__name__)

CHANGE_STREAM_HISTORY_LOST = 286
WRITES = [{"$match": {"operationType": {"$in": ["insert", "update", "replace"]}}}]


async def follow_changes(collection: AsyncCollection, on_change: Callable[[dict], Awaitable[None] | None], *,
                         full_document: bool, on_gap: Callable[[], None]) -> None:
    """Calls `on_change` with every insert, update or replace committed to the
    collection (with the document as it is now when `full_document`), one change
    at a time, in commit order (a coroutine `on_change` is awaited before the next), until
    cancelled. `on_gap` is called whenever the stream starts from now rather than
    where it left off (at first, and when the store lost that point): changes
    committed before may have gone by unseen, so whoever waits on them must look again."""
    resume_after = None

    async def follow() -> bool:
        nonlocal resume_after
        try:
            async with await collection.watch(WRITES, full_document="updateLookup" if full_document else None,
                                              resume_after=resume_after) as stream:
                if resume_after is None:
                    on_gap()
                async for change in stream:
                    resume_after = stream.resume_token
                    handled = on_change(change)
                    if inspect.isawaitable(handled):
                        await handled
        except OperationFailure as exc:
            if exc.code == CHANGE_STREAM_HISTORY_LOST:
                log.warning("change_stream_history_lost_resuming_from_now", collection=collection.name)
                resume_after = None
            raise
        return True

    await backoff.forever(follow, lambda: asyncio.sleep(0))

"""In-process fan-out of committed changes to the streams that watch them.

A service publishes what it committed (after commit, and what other replicas
committed from the store's change stream: secondlook/changes.py) under a key;
each open stream subscribed to that key gets it in its own bounded queue. A
stream whose reader falls too far behind is ended rather than allowed to hold
memory without limit: its client resumes from the last position it received.
Review's WatchAssignments (key: the specialist) and intake's WatchCase (key:
the case) are built on it.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")

WATCHER_BACKLOG = 1000  # changes one stream may fall behind by before it is ended


class FellBehind(Exception):
    """The stream's reader did not keep up: it ends, and the client resumes from its last position."""


class Watcher(Generic[T]):
    def __init__(self) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(WATCHER_BACKLOG)
        self.fell_behind = False
        self.interrupted = False

    def put(self, item: T) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.fell_behind = True

    def interrupt(self) -> None:
        """Ends the stream at once: what it waits for may have gone by unseen."""
        self.interrupted = True
        if not self._queue.full():
            self._queue.put_nowait(None)  # wakes a reader waiting on an empty queue

    async def next(self) -> T:
        if self.fell_behind or self.interrupted:
            raise FellBehind()
        item = await self._queue.get()
        if self.interrupted:
            raise FellBehind()
        return item

    async def next_all(self) -> list[T]:
        """Everything published since the last call, waiting for at least one item:
        for a reader that re-reads the store on a change, several changes are one read."""
        items = [await self.next()]
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items


class Feed(Generic[T]):
    def __init__(self) -> None:
        self._watchers: dict[str, set[Watcher[T]]] = {}

    def publish(self, key: str, item: T) -> None:
        for watcher in self._watchers.get(key, ()):
            watcher.put(item)

    def subscribe(self, key: str) -> Watcher[T]:
        watcher: Watcher[T] = Watcher()
        self._watchers.setdefault(key, set()).add(watcher)
        return watcher

    def unsubscribe(self, key: str, watcher: Watcher[T]) -> None:
        watchers = self._watchers.get(key)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[key]

    def interrupt_all(self) -> None:
        """Every open stream ends and its client resumes from its last position: for when
        changes may have gone by unseen (a change stream that could not resume)."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.interrupt()

    def watched(self, key: str) -> bool:
        return key in self._watchers

    @property
    def watching(self) -> int:
        return sum(len(w) for w in self._watchers.values())

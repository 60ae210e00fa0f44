"""The reviewers' feed: assignment changes fanned out, in process, to the
WatchAssignments streams of the specialists they belong to.

Review's own commits publish to it at once (after commit); with several
replicas, each also follows the store's change stream (repository.follow_changes),
so a change committed by another replica reaches the streams held here. A change
is passed on once per version, whichever way it came first.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from .domain.assignment import Assignment

WATCHER_BACKLOG = 1000  # changes one stream may fall behind by before it is ended
VERSIONS_KEPT = 100_000  # assignments whose last version the feed remembers


class FellBehind(Exception):
    """The stream's reader did not keep up: it ends, and the client resumes from its last position."""


class Watcher:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Assignment] = asyncio.Queue(WATCHER_BACKLOG)
        self.fell_behind = False

    def put(self, assignment: Assignment) -> None:
        try:
            self._queue.put_nowait(assignment)
        except asyncio.QueueFull:
            self.fell_behind = True

    async def next(self) -> Assignment:
        if self.fell_behind:
            raise FellBehind()
        return await self._queue.get()


class AssignmentFeed:
    def __init__(self) -> None:
        self._watchers: dict[str, set[Watcher]] = {}
        self._versions: OrderedDict[str, int] = OrderedDict()

    def publish(self, assignment: Assignment) -> None:
        """A committed change; a version already passed on is dropped."""
        if self._versions.get(assignment.assignment_id, 0) >= assignment.version:
            return
        self._versions[assignment.assignment_id] = assignment.version
        self._versions.move_to_end(assignment.assignment_id)
        while len(self._versions) > VERSIONS_KEPT:
            self._versions.popitem(last=False)
        for watcher in self._watchers.get(assignment.specialist_id, ()):
            watcher.put(assignment)

    def subscribe(self, specialist_id: str) -> Watcher:
        watcher = Watcher()
        self._watchers.setdefault(specialist_id, set()).add(watcher)
        return watcher

    def unsubscribe(self, specialist_id: str, watcher: Watcher) -> None:
        watchers = self._watchers.get(specialist_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[specialist_id]

    @property
    def watching(self) -> int:
        return sum(len(w) for w in self._watchers.values())

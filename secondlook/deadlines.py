"""The one deadline keeper: deadlines stored with what they belong to, armed in memory.

A service stores each deadline with its record (an offer's `respond_by`) and
arms it here once the write is committed; at start, and every `reload_seconds`
after, the keeper re-arms every deadline still pending from the store (`load`):
a restart loses none, and one armed only in another replica's memory (a replica
gone for good, a commit whose outcome was lost) falls due here too. When
deadlines fall due it hands their keys to `fire`, which makes the durable,
guarded transition: a deadline answered or cancelled meanwhile changes
nothing, so firing twice, or again after a crash, is harmless. A failing
`fire` is retried with the kernel's backoff. Idle, the keeper sleeps until the
next deadline or reload: one indexed read of the pending deadlines every few minutes.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from secondlook import backoff
from secondlook.clock import Clock

BATCH = 100  # keys handed to one `fire`
RELOAD_SECONDS = 300.0


class Deadlines:
    def __init__(self, clock: Clock):
        self._clock = clock
        self._armed: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []  # may hold disarmed or re-armed entries: `_armed` decides
        self._changed = asyncio.Event()
        self._reload_at: float | None = None  # monotonic time of the next `load`

    def arm(self, key: str, at: datetime) -> None:
        """`key` falls due at `at` (again, when armed before: the later call wins)."""
        self._armed[key] = at
        heapq.heappush(self._heap, (at, key))
        if self._heap[0] == (at, key):
            self._changed.set()  # sooner than what the keeper sleeps for

    def disarm(self, key: str) -> None:
        self._armed.pop(key, None)

    def armed_with(self, prefix: str) -> bool:
        """Whether any key armed begins with `prefix`."""
        return any(key.startswith(prefix) for key in self._armed)

    def __contains__(self, key: str) -> bool:
        return key in self._armed

    def __len__(self) -> int:
        return len(self._armed)

    def _next(self) -> tuple[datetime, str] | None:
        while self._heap and self._armed.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # disarmed, or armed again for another time
        return self._heap[0] if self._heap else None

    def due(self, now: datetime, limit: int = BATCH) -> list[str]:
        """Keys due at `now`, soonest first; they stay armed until `done`."""
        found: dict[str, datetime] = {}
        while len(found) < limit and (head := self._next()) is not None and head[0] <= now:
            heapq.heappop(self._heap)
            found[head[1]] = head[0]
        for key, at in found.items():
            heapq.heappush(self._heap, (at, key))
        return list(found)

    def done(self, keys: Iterable[str], now: datetime) -> None:
        """Fired: disarmed, unless armed again for later meanwhile."""
        for key in keys:
            at = self._armed.get(key)
            if at is not None and at <= now:
                del self._armed[key]

    async def run(self, load: Callable[[], Awaitable[Iterable[tuple[str, datetime]]]],
                  fire: Callable[[list[str]], Awaitable[None]], reload_seconds: float = RELOAD_SECONDS) -> None:
        """Re-arms what `load` returns (now and every `reload_seconds`), and fires
        deadlines as they fall due, until cancelled."""
        async def step() -> bool:
            if self._reload_at is None or self._clock.monotonic() >= self._reload_at:
                for key, at in await load():
                    if self._armed.get(key) != at:
                        self.arm(key, at)
                self._reload_at = self._clock.monotonic() + reload_seconds
            now = self._clock.now()
            keys = self.due(now)
            if not keys:
                return False
            await fire(keys)
            self.done(keys, now)
            return True

        await backoff.forever(step, self._rest)

    async def _rest(self) -> None:
        self._changed.clear()
        upcoming = self._next()
        timeout = max(0.0, (self._reload_at or 0.0) - self._clock.monotonic())
        if upcoming is not None:
            timeout = min(timeout, max(0.0, (upcoming[0] - self._clock.now()).total_seconds()))
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

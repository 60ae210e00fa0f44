"""The one group-commit helper: work submitted while `limit` groups are being run
waits, and goes together in the next group (at most `max_size` items).

An idle system runs each item at once, as a group of one; a busy one gathers
whatever arrived while the groups before were running. The consumer loop
groups records into batches with it, and the store groups transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Groups:
    def __init__(self, run: Callable[[list], Awaitable[list]], limit: int, max_size: int):
        """`run(items)` returns one outcome per item; an outcome that is an exception
        is raised to that item's submitter."""
        self._run = run
        self._limit = limit
        self._max = max_size
        self._waiting: list[tuple[object, asyncio.Future]] = []
        self._running: set[asyncio.Task] = set()

    async def submit(self, item: object):
        """The item's outcome, once its group has run."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        self._start()
        outcome = await done
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> list[asyncio.Task]:
        """Starts no more groups; returns those under way (to cancel)."""
        self._limit = 0
        return list(self._running)

    def _start(self) -> None:
        self._waiting = [(item, done) for item, done in self._waiting if not done.cancelled()]
        while self._waiting and len(self._running) < self._limit:
            group, self._waiting = self._waiting[:self._max], self._waiting[self._max:]
            task = asyncio.create_task(self._run_one(group))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._start()

    async def _run_one(self, group: list[tuple[object, asyncio.Future]]) -> None:
        try:
            outcomes = await self._run([item for item, _ in group])
        except asyncio.CancelledError:  # stopping: nothing in the group counts as done
            for _, done in group:
                done.cancel()
            raise
        except Exception as exc:  # a bug in `run`: every submitter hears of it
            outcomes = [exc] * len(group)
        for (_, done), outcome in zip(group, outcomes, strict=True):
            if not done.done():
                done.set_result(outcome)

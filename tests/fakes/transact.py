"""A fake `Transact`: runs a use case's body over in-memory repositories, all
or nothing, like the real unit of work."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any


class FakeUnitOfWork:
    """Base of each service's fake unit of work: events and after-commit reactions."""

    def __init__(self, state: Any):
        self.state = state
        self.events: list = []
        self.after_commit: list[Callable[[], None]] = []

    def emit(self, event) -> None:
        self.events.append(event)


class Committed:
    """A repository used outside any transaction (guarded single-document writes),
    over whatever the fake transact has committed by the time it is called."""

    def __init__(self, transact: FakeTransact, make: Callable[[Any], Any]):
        self._transact = transact
        self._make = make

    def __getattr__(self, name: str):
        return getattr(self._make(self._transact.state), name)


class FakeTransact:
    """Commits a body's changes and events only when it returns; a body that raises
    leaves the state as it was. `make(state)` builds the service's fake unit of work."""

    def __init__(self, state: Any, make: Callable[[Any], FakeUnitOfWork]):
        self.state = state
        self._make = make
        self.committed: list = []  # every event committed, in order
        self.transactions = 0

    async def __call__(self, body: Callable[[Any], Awaitable[Any]]) -> Any:
        working = copy.deepcopy(self.state)
        uow = self._make(working)
        result = await body(uow)
        self.state = working
        self.committed.extend(uow.events)
        self.transactions += 1
        for callback in uow.after_commit:
            callback()
        return result

"""The service layer's view of a transaction.

A use case is one function per command or event, written against a service's
unit of work: its repositories plus `emit` (events committed with the state
change, through the outbox) and `after_commit` (in-process reactions once the
commit landed). Commands start their transaction through a `Transact`:

    async def accept(transact: Transact[ReviewUnitOfWork], ...):
        return await transact(lambda uow: ...)

In a service, `transactor(store, lambda uow: ReviewUnitOfWork(uow, cipher))` runs the body in one MongoDB
transaction (`Store.transact`); in unit tests a fake runs it over in-memory
repositories. Event handlers get the unit of work of the consumer's
transaction (`adapt`), so an event's effect, the events it causes and its
processed marker commit together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from secondlook.consumer import Handler
from secondlook.events import Event
from secondlook.store import Store, UnitOfWork

U = TypeVar("U")
T = TypeVar("T")


class Transact(Protocol[U]):
    async def __call__(self, body: Callable[[U], Awaitable[T]]) -> T: ...


def transactor(store: Store, make: Callable[[UnitOfWork], U]) -> Transact[U]:
    async def transact(body: Callable[[U], Awaitable[T]]) -> T:
        return await store.transact(lambda uow: body(make(uow)))

    return transact


def adapt(make: Callable[[UnitOfWork], U], handler: Callable[[U, Event], Awaitable[None]]) -> Handler:
    """A use case for an event, as the kernel's consumer calls it."""

    async def handle(event: Event, uow: UnitOfWork) -> None:
        await handler(make(uow), event)

    return handle

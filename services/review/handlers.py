"""review's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.clock import Clock
from secondlook.consumer import Guarded

from . import usecases
from .repository import MongoReviewRepository


def make_handlers(db: AsyncDatabase, feed: usecases.Feed, clock: Clock) -> dict[str, Guarded]:
    assignments = MongoReviewRepository(db)

    async def record_offers(events):
        return await usecases.record_offers(assignments, feed, clock, events)

    async def record_offer(event) -> bool:
        return (await record_offers([event]))[0]

    return {"specialist.offered": Guarded(record_offer, record_offers)}

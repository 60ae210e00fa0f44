"""review's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.consumer import Guarded

from . import usecases
from .repository import MongoReviewRepository


def make_handlers(db: AsyncDatabase) -> dict[str, Guarded]:
    assignments = MongoReviewRepository(db)
    async def record_offer(event) -> bool:
        return (await usecases.record_offers(assignments, [event]))[0]

    return {"specialist.offered": Guarded(record_offer, lambda events: usecases.record_offers(assignments, events))}

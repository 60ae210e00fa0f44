"""review's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.clock import Clock
from secondlook.consumer import Guarded

from . import usecases
from .repository import MongoReviewRepository


def make_handlers(db: AsyncDatabase, feed: usecases.Feed, clock: Clock) -> dict[str, Guarded]:
    assignments = MongoReviewRepository(db)

    return {"specialist.offered": Guarded.batched(
        lambda events: usecases.record_offers(assignments, feed, clock, events))}

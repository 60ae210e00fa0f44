"""review's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.consumer import Guarded

from . import usecases
from .repository import MongoReviewRepository


def make_handlers(db: AsyncDatabase) -> dict[str, Guarded]:
    assignments = MongoReviewRepository(db)
    return {"specialist.offered": Guarded(lambda event: usecases.record_offer(assignments, event))}

"""review's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.clock import Clock
from secondlook.consumer import Guarded, Handler
from secondlook.unitofwork import adapt

from . import usecases
from .repository import MongoReviewRepository, ReviewUnitOfWork


def make_handlers(db: AsyncDatabase, feed: usecases.Feed, clock: Clock) -> dict[str, Guarded | Handler]:
    assignments = MongoReviewRepository(db)

    return {
        "specialist.offered": Guarded.batched(lambda events: usecases.record_offers(assignments, feed, clock, events)),
        "offers.withdrawn": adapt(ReviewUnitOfWork, lambda uow, e: usecases.withdraw_assignments(uow, feed, clock, e)),
        "offer.deadline_passed": adapt(ReviewUnitOfWork, lambda uow, e: usecases.expire_offer(uow, feed, clock, e)),
        "documents.added": adapt(ReviewUnitOfWork, lambda uow, e: usecases.resume_reviews(uow, feed, clock, e)),
    }

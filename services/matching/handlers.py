"""matching's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.clock import Clock
from secondlook.consumer import Guarded, Handler
from secondlook.unitofwork import adapt

from . import usecases
from .repository import MatchingUnitOfWork, MongoMatchingRepository


def make_handlers(db: AsyncDatabase, clock: Clock, offer_ttl_seconds: int) -> dict[str, Handler | Guarded]:
    directory = MongoMatchingRepository(db)
    return {
        "case.submitted": adapt(MatchingUnitOfWork,
                                lambda uow, e: usecases.match_case(uow, e, clock, offer_ttl_seconds)),
        "case.withdrawn": adapt(MatchingUnitOfWork, usecases.withdraw_offers),
        # One guarded write on the specialist: no transaction, no marker.
        "opinion.submitted": Guarded.batched(lambda events: usecases.release_capacity(directory, events)),
    }

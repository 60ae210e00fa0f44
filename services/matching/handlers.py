"""matching's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.clock import Clock
from secondlook.consumer import Guarded, Handler
from secondlook.deadlines import Deadlines
from secondlook.unitofwork import adapt

from . import usecases
from .repository import DirectoryCache, MatchingUnitOfWork, MongoMatchingRepository


def make_handlers(db: AsyncDatabase, clock: Clock, policy: usecases.MatchPolicy, cache: DirectoryCache,
                  deadlines: Deadlines) -> dict[str, Handler | Guarded]:
    directory = MongoMatchingRepository(db, cache, deadlines)

    def unit(uow):
        return MatchingUnitOfWork(uow, cache, deadlines)

    offer_next = adapt(unit, lambda uow, e: usecases.offer_next(uow, e, clock, policy))
    return {
        "case.submitted": adapt(unit, lambda uow, e: usecases.match_case(uow, e, clock, policy)),
        "case.withdrawn": adapt(unit, usecases.withdraw_offers),
        "documents.added": adapt(unit, usecases.records_added),
        "panel.opinion_signed": adapt(unit, lambda uow, e: usecases.panel_opinion(uow, e, clock, policy)),
        "assignment.declined": offer_next,
        "assignment.expired": offer_next,
        # One guarded write on the offer: its deadline no longer applies.
        "assignment.accepted": Guarded(lambda e: usecases.offer_accepted(directory, e)),
        # One guarded write on the specialist: no transaction, no marker.
        "opinion.submitted": Guarded.batched(lambda events: usecases.release_capacity(directory, events)),
    }

"""matching's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from secondlook.clock import Clock
from secondlook.consumer import Handler
from secondlook.unitofwork import adapt

from . import usecases
from .repository import MatchingUnitOfWork


def make_handlers(clock: Clock, offer_ttl_seconds: int) -> dict[str, Handler]:
    return {
        "case.submitted": adapt(MatchingUnitOfWork,
                                lambda uow, e: usecases.match_case(uow, e, clock, offer_ttl_seconds)),
        "opinion.submitted": adapt(MatchingUnitOfWork, lambda uow, e: usecases.release_capacity(uow, e, clock)),
    }

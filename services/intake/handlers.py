"""intake's event entry point: every downstream stage event runs the projection."""

from __future__ import annotations

from secondlook.clock import Clock
from secondlook.consumer import Handler
from secondlook.unitofwork import adapt

from . import usecases
from .domain.lifecycle import STATUS_OF_EVENT
from .repository import IntakeUnitOfWork


def make_handlers(clock: Clock, stuck_after: float) -> dict[str, Handler]:
    project = adapt(IntakeUnitOfWork, lambda uow, e: usecases.project(uow, e, clock, stuck_after))
    return {event_type: project for event_type in STATUS_OF_EVENT if event_type != "case.submitted"}

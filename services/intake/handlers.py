"""intake's event entry point: every downstream stage event runs the projection,
as one guarded write on the case (no transaction: see usecases.project); a
batch of them, one read and one write for all their cases."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.clock import Clock
from secondlook.consumer import Guarded
from secondlook.phi import PhiCipher

from . import usecases
from .domain.lifecycle import OWN_EVENTS, STATUS_OF_EVENT
from .repository import MongoCaseRepository


def make_handlers(db: AsyncDatabase, cipher: PhiCipher, changes: usecases.CaseChanges, clock: Clock,
                  stuck_after: float) -> dict[str, Guarded]:
    cases = MongoCaseRepository(db, cipher)
    project = Guarded(lambda event: usecases.project(cases, changes, event, clock, stuck_after),
                      lambda events: usecases.project_many(cases, changes, events, clock, stuck_after))
    return {event_type: project for event_type in STATUS_OF_EVENT if event_type not in OWN_EVENTS}

"""notify's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.asynchronous.database import AsyncDatabase

from secondlook.clock import Clock
from secondlook.consumer import Guarded

from . import usecases
from .domain.deliveries import Delivery
from .domain.routing import OFFER_ENDED, ROUTED_TYPES
from .repository import EndpointRepository, MongoDeliveries, MongoDeliveryQueue


def make_handlers(db: AsyncDatabase, endpoints: EndpointRepository, clock: Clock,
                  send: Callable[[list[Delivery]], None], lease_seconds: float,
                  withdrawn: Callable[[str], None], channels: frozenset[str] = frozenset(),
                  escalate: bool = False, people: usecases.FirstAttempts | None = None) -> dict[str, Guarded]:
    deliveries, queue = MongoDeliveries(db), MongoDeliveryQueue(db)
    # One handler for every notice: a poll batch's events of all types are written together.
    notices = Guarded.batched(lambda events: usecases.record_notices(deliveries, endpoints, events, clock, send,
                                                                     lease_seconds, channels=channels,
                                                                     escalate=escalate, people=people))
    return {
        **{event_type: notices for event_type in ROUTED_TYPES},
        "assignments.withdrawn": Guarded(lambda event: usecases.cancel_deliveries(queue, clock, event, withdrawn)),
        **{event_type: Guarded(lambda event: usecases.cancel_offer_notices(queue, clock, event))
           for event_type in OFFER_ENDED},
    }

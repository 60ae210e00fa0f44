"""notify's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from collections.abc import Callable

from secondlook.clock import Clock
from secondlook.consumer import Handler
from secondlook.unitofwork import adapt

from . import usecases
from .repository import NotifyUnitOfWork


def make_handlers(clock: Clock, wake: Callable[[], None]) -> dict[str, Handler]:
    return {"opinion.submitted": adapt(NotifyUnitOfWork, lambda uow, e: usecases.record_opinion(uow, e, clock, wake))}

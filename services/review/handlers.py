"""review's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from secondlook.consumer import Handler
from secondlook.unitofwork import adapt

from . import usecases
from .repository import ReviewUnitOfWork


def make_handlers() -> dict[str, Handler]:
    return {"specialist.offered": adapt(ReviewUnitOfWork, usecases.record_offer)}

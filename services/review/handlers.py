"""review's event entry point: which use case each consumed event runs."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from secondlook import metrics
from secondlook.clock import Clock
from secondlook.consumer import Guarded, Handler
from secondlook.deadlines import Deadlines
from secondlook.logging import bound_contextvars, get_logger
from secondlook.phi import PhiCipher
from secondlook.store import UnitOfWork
from secondlook.unitofwork import Transact, adapt

from . import usecases
from .domain.assignment import Assignment, sla_next_at
from .domain.sla import Alarm, SlaRules
from .repository import MongoReviewRepository, ReviewUnitOfWork

log = get_logger(__name__)


def make_handlers(db: AsyncDatabase, cipher: PhiCipher, feed: usecases.Feed, clock: Clock,
                  sla_rules: SlaRules) -> dict[str, Guarded | Handler]:
    assignments = MongoReviewRepository(db, cipher)

    def unit_of_work(uow: UnitOfWork) -> ReviewUnitOfWork:
        return ReviewUnitOfWork(uow, cipher)

    return {
        "specialist.offered": Guarded.batched(lambda events: usecases.record_offers(assignments, feed, clock, events)),
        "offers.withdrawn": adapt(unit_of_work, lambda uow, e: usecases.withdraw_assignments(uow, feed, clock, e)),
        "offer.deadline_passed": adapt(unit_of_work, lambda uow, e: usecases.expire_offer(uow, feed, clock, e)),
        "panel.concluded": adapt(unit_of_work, lambda uow, e: usecases.conclude_panel(uow, e)),
        "documents.added": adapt(unit_of_work, lambda uow, e: usecases.resume_reviews(uow, feed, clock, sla_rules, e)),
    }


def make_sla_keeper(transact: Transact, feed: usecases.Feed, clock: Clock, deadlines: Deadlines):
    """The SLA clocks' entry points: what to arm when an assignment changes, and what
    to do when alarms fall due (the kernel's deadline keeper calls it)."""

    def track(assignment: Assignment) -> None:
        at = sla_next_at(assignment)
        if at is None:
            deadlines.disarm(assignment.assignment_id)
        else:
            deadlines.arm(assignment.assignment_id, at)

    def told(assignment: Assignment, alarm: Alarm) -> None:
        metrics.SLA_ALARMS.labels("breach" if alarm.breach else "reminder").inc()
        with bound_contextvars(case_id=assignment.case_id):
            if alarm.breach:
                log.warning("sla_breached", assignment_id=assignment.assignment_id)
            else:
                log.info("sla_reminder", assignment_id=assignment.assignment_id, reminder=alarm.reminder)

    async def fire(assignment_ids: list[str]) -> None:
        await usecases.sla_due(transact, feed, clock, assignment_ids, told)

    return track, fire

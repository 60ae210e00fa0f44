"""matching's service layer: one function per event, over the repository port
and the unit of work. No Kafka or MongoDB here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from secondlook.clock import Clock
from secondlook.events import Event
from secondlook.logging import bound_contextvars, get_logger

from .domain.matcher import CaseFacts, rank
from .domain.offers import matching_started, offer_to, offers_withdrawn, unmatched
from .domain.specialties import specialties_for
from .repository import MatchingRepository

log = get_logger(__name__)


class UnitOfWork(Protocol):
    directory: MatchingRepository
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


async def match_case(uow: UnitOfWork, event: Event, clock: Clock, offer_ttl_seconds: int) -> None:
    """case.submitted: rank the eligible specialists and offer the case to the best
    one with a free slot, or say why nobody can take it."""
    if await uow.directory.is_withdrawn(event.case_id):  # a case.submitted published again after the withdrawal
        log.info("withdrawn_case_not_matched")
        return
    submitted = event.case_submitted
    wanted = specialties_for(submitted.diagnosis_code)
    uow.emit(matching_started(event, wanted))
    facts = CaseFacts(submitted.diagnosis_code, submitted.jurisdiction, submitted.language)
    for fresh in (False, True):  # the directory as last read; before giving up, as it is now
        ranked, why_not = rank(facts, await uow.directory.candidates(wanted, submitted.jurisdiction, fresh))
        for candidate in ranked:  # again on the fresh read: a slot refused a moment ago may be back
            offer, offered = offer_to(event, candidate, clock.now(), offer_ttl_seconds)
            if not await uow.directory.reserve(offer.specialist_id, offer.assignment_id):
                continue  # its last slot went to a concurrent case: next best
            await uow.directory.add_offer(offer)
            uow.emit(offered)
            log.info("specialist_offered", specialist_id=offer.specialist_id, score=offer.score)
            return
    uow.emit(unmatched(event, why_not or "every eligible specialist filled up while matching"))
    log.warning("case_unmatched")  # the reason travels in the event, to intake's timeline


async def release_capacity(directory: MatchingRepository, events: list[Event]) -> list[bool | None]:
    """opinion.submitted: each specialist's slot is given back, once per offer, in
    one write for all of them (no transaction: see repository). Per event True,
    False for a repeat, or None: release it alone to know."""
    released = await directory.release([(e.opinion_submitted.specialist_id, e.opinion_submitted.assignment_id)
                                        for e in events])
    for event, done in zip(events, released, strict=True):
        if done:
            with bound_contextvars(case_id=event.case_id):
                log.info("capacity_released", specialist_id=event.opinion_submitted.specialist_id)
    return released


async def withdraw_offers(uow: UnitOfWork, event: Event) -> None:
    """case.withdrawn: the case is never matched again (a case.submitted published
    again later finds it withdrawn), every offer made for it gives its specialist's
    slot back (if it still holds it: an opinion may have given it back already),
    and review hears which offers are withdrawn."""
    await uow.directory.mark_withdrawn(event.case_id)
    offers = await uow.directory.offers_for_case(event.case_id)
    if offers:
        await uow.directory.release(offers)  # guarded: a slot given back before (the opinion) is not again
    uow.emit(offers_withdrawn(event, [assignment_id for _, assignment_id in offers]))
    log.info("offers_withdrawn", offers=len(offers))

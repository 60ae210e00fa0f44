"""matching's service layer: one function per event, over the repository port
and the unit of work. No Kafka or MongoDB here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from secondlook.clock import Clock
from secondlook.events import Event
from secondlook.logging import bound_contextvars, get_logger

from .domain.directory import AlreadyListed, DirectoryQuery, Specialist, deactivated, listed, specialist_changed
from .domain.matcher import CaseFacts, Verdict, Weights, assess, wanted_for
from .domain.offers import Decision, matching_started, offer_to, offers_withdrawn, unmatched
from .domain.specialty_map import SpecialtyMap
from .repository import MatchingRepository

log = get_logger(__name__)


class UnitOfWork(Protocol):
    directory: MatchingRepository
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


@dataclass(frozen=True)
class MatchPolicy:
    """How matching decides (settings and reference data, fixed at start)."""

    specialty_map: SpecialtyMap
    offer_ttl_seconds: int
    weights: Weights = Weights()
    cover_secondary: bool = False  # a secondary diagnosis may decide when the primary has no specialty


def case_facts(event: Event) -> CaseFacts:
    s = event.case_submitted
    return CaseFacts(
        case_id=event.case_id, diagnosis_code=s.diagnosis_code, jurisdiction=s.jurisdiction, language=s.language,
        tenant_id=event.tenant_id, kind=s.kind, urgency=s.urgency,
        secondary_diagnosis_codes=tuple(s.secondary_diagnosis_codes),
        first_opinion_physician_npi=s.first_opinion_physician_npi,
        first_opinion_organization=s.first_opinion_organization,
        first_opinion_organization_npi=s.first_opinion_organization_npi,
    )


async def match_case(uow: UnitOfWork, event: Event, clock: Clock, policy: MatchPolicy) -> None:
    """case.submitted: rank the eligible specialists and offer the case to the best
    one with a free slot, or say why nobody can take it."""
    if await uow.directory.is_withdrawn(event.case_id):  # a case.submitted published again after the withdrawal
        log.info("withdrawn_case_not_matched")
        return
    facts = case_facts(event)
    wanted = wanted_for(facts, policy.specialty_map.specialties_for, policy.cover_secondary)
    uow.emit(matching_started(event, wanted.specialties))
    day = clock.now().date()
    refresh = None
    for _ in range(2):  # the directory in memory; before giving up, its candidates read again
        index = await uow.directory.index(refresh)
        for candidate in index.best_first(facts, wanted, day):  # again after the read: a slot may be back
            offer, offered = offer_to(event, candidate, clock.now(), policy.offer_ttl_seconds)
            if not await uow.directory.reserve(offer.specialist_id, offer.assignment_id):
                continue  # its last slot went to a concurrent case: next best
            await uow.directory.add_offer(offer, facts)
            uow.emit(offered)
            log.info("specialist_offered", specialist_id=offer.specialist_id, score=offer.score)
            return
        refresh = tuple(s.specialist_id for s in index.candidates(wanted.specialties, facts.jurisdiction))
    reason = index.why_not(facts, wanted, day) or "every eligible specialist filled up while matching"
    await uow.directory.record_unmatched(event.event_id, facts, reason, clock.now())
    uow.emit(unmatched(event, reason))
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


# --- the directory's admin side ------------------------------------------------------
class NotFound(Exception):
    pass


class VersionConflict(Exception):
    """The directory holds another version than the one the caller expected."""

    def __init__(self, current: int):
        super().__init__(current)
        self.current = current


async def upsert_specialist(uow: UnitOfWork, proposed: Specialist, expected_version: int,
                            now: datetime, quiet: bool = False, reactivate: bool = False) -> tuple[Specialist, bool]:
    """Creates or replaces a specialist (`expected_version` 0: whatever is there) and
    tells the platform; returns the specialist as listed and whether it is new
    (`quiet`: no log line of its own, an import logs one for the file)."""
    current = await uow.directory.specialist(proposed.specialist_id)
    if expected_version and (current is None or current.version != expected_version):
        raise VersionConflict(current.version if current else 0)
    saved = listed(current, proposed, reactivate)
    try:
        if not await uow.directory.save_specialist(saved, current):
            raise VersionConflict(-1)  # changed between the read and the write: read again
    except AlreadyListed:
        raise VersionConflict(-1) from None
    uow.emit(specialist_changed(saved, created=current is None, now=now))
    if not quiet:
        log.info("specialist_listed", specialist_id=saved.specialist_id, version=saved.version,
                 created=current is None)
    return saved, current is None


async def deactivate_specialist(uow: UnitOfWork, specialist_id: str, now: datetime) -> Specialist:
    """The specialist is never offered a case again (open offers stand)."""
    current = await uow.directory.specialist(specialist_id)
    if current is None:
        raise NotFound(specialist_id)
    if not current.active:
        return current  # already: nothing changes, nothing is told
    saved = deactivated(current)
    if not await uow.directory.save_specialist(saved, current):
        raise VersionConflict(-1)
    uow.emit(specialist_changed(saved, created=False, now=now))
    log.info("specialist_deactivated", specialist_id=specialist_id, version=saved.version)
    return saved


async def get_specialist(directory: MatchingRepository, specialist_id: str) -> Specialist:
    found = await directory.specialist(specialist_id)
    if found is None:
        raise NotFound(specialist_id)
    return found


async def list_specialists(directory: MatchingRepository, query: DirectoryQuery, after: str, page_size: int,
                           today: date) -> tuple[list[Specialist], str]:
    """A page, and the id to continue after ("" on the last page)."""
    found = await directory.list_specialists(query, after, page_size + 1, today)
    page = found[:page_size]
    return page, page[-1].specialist_id if len(found) > page_size else ""


# --- explaining a match ----------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    decision: Decision
    wanted: tuple[str, ...]
    verdicts: list[Verdict]  # every specialist of the directory now, in id order
    ranks: dict[str, int]  # eligible specialist -> place in the ranking, from 1


async def explain_match(directory: MatchingRepository, everyone: Callable[[], Awaitable[list[Specialist]]],
                        case_id: str, policy: MatchPolicy, today: date, readable_tenants: frozenset[str]
                        ) -> Explanation:
    """What was decided for the case, and the whole directory (as this replica holds
    it) as the rules and the score see the case now. NotFound when matching never
    decided on it, or the caller may not read the case's tenant: checked before the
    directory is looked at."""
    decision = await directory.decision(case_id)
    if decision is None or decision.facts.tenant_id not in readable_tenants:
        raise NotFound(case_id)
    wanted = wanted_for(decision.facts, policy.specialty_map.specialties_for, policy.cover_secondary)
    specialists = sorted(await everyone(), key=lambda s: s.specialist_id)
    verdicts = assess(decision.facts, wanted, specialists, today, policy.weights)
    ranked = sorted((v.candidate for v in verdicts if v.candidate), key=lambda c: (-c.score.total, c.tiebreak))
    return Explanation(decision, wanted.specialties, verdicts,
                       {c.specialist.specialist_id: i for i, c in enumerate(ranked, start=1)})


IMPORT_BATCH = 100  # specialists per transaction


async def import_specialists(transact, proposed: list[Specialist], now: datetime,
                             dry_run: bool = False) -> tuple[int, int]:
    """Upserts every specialist (`expected_version` 0), a batch per transaction, each
    with its event; returns (created, updated). `dry_run` counts without writing."""
    created = updated = 0
    for start in range(0, len(proposed), IMPORT_BATCH):
        batch = proposed[start:start + IMPORT_BATCH]

        async def body(uow: UnitOfWork, batch=batch) -> list[bool]:
            if dry_run:
                return [await uow.directory.specialist(s.specialist_id) is None for s in batch]
            return [(await upsert_specialist(uow, s, 0, now, quiet=True))[1] for s in batch]

        new = await transact(body)
        created += sum(new)
        updated += len(new) - sum(new)
    return created, updated

"""matching's service layer: one function per event, over the repository port
and the unit of work. No Kafka or MongoDB here."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import NamedTuple, Protocol

from secondlook.audit import Access, AuditTrail
from secondlook.auth import Principal
from secondlook.clock import Clock
from secondlook.events import Event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.v1.case_pb2 import DiagnosisConcordance
from secondlook.v1.events_pb2 import OpinionSubmitted, PanelOutcome, UnmatchedCause

from .domain.directory import (
    CONTACT_CHANNELS,
    AlreadyListed,
    Contact,
    DirectoryQuery,
    Specialist,
    changes_nothing,
    contact_for,
    deactivated,
    listed,
    specialist_changed,
)
from .domain.index import DirectoryIndex
from .domain.matcher import CaseFacts, Service, Verdict, Wanted, Weights, assess, wanted_for
from .domain.offers import (
    ACCEPTED,
    ADJUDICATOR,
    AWAITING,
    DECLINED,
    EXPIRED,
    OPINED,
    REVIEWER,
    WITHDRAWN,
    Decision,
    Offer,
    OfferRules,
    PanelVerdict,
    Refill,
    Waiting,
    adjudicators_failed,
    case_waiting,
    could_seat,
    deadline_passed,
    exhausted_reason,
    matching_started,
    nobody_left_reason,
    offer_to,
    offers_withdrawn,
    panel_concluded,
    panel_reason,
    panel_verdict,
    refill,
    unmatched,
    waited_reason,
    waiting_reason,
)
from .domain.service_map import ServiceSpecialtyMap
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
    offers: OfferRules = OfferRules()
    weights: Weights = Weights()
    cover_secondary: bool = False  # a secondary diagnosis may decide when the primary has no specialty
    blind_review_tenants: frozenset[str] = frozenset()  # every case of these tenants is reviewed blind
    service_map: ServiceSpecialtyMap | None = None  # prior authorization: who may decide a requested service

    def wanted(self, facts: CaseFacts) -> Wanted:
        return wanted_for(facts, self.specialty_map.specialties_for, self.cover_secondary, self.service_map)

    def qualified(self, facts: CaseFacts) -> tuple[tuple[str, ...], ...]:
        """Per requested service, the specialties that may deny or modify it (none: not a prior authorization)."""
        if self.service_map is None or not facts.requested_services:
            return ()
        by_diagnosis = self.specialty_map.specialties_for(facts.diagnosis_code)
        return tuple(self.service_map.deciders([service], by_diagnosis) for service in facts.services)


def case_facts(event: Event, blind_review_tenants: frozenset[str] = frozenset()) -> CaseFacts:
    """What matching keeps of a submitted case; blind review when the case asks for it
    or its tenant's setting says so."""
    s = event.case_submitted
    return CaseFacts(
        case_id=event.case_id, diagnosis_code=s.diagnosis_code, jurisdiction=s.jurisdiction, language=s.language,
        tenant_id=event.tenant_id, kind=s.kind, urgency=s.urgency,
        secondary_diagnosis_codes=tuple(s.secondary_diagnosis_codes),
        first_opinion_physician_npi=s.first_opinion_physician_npi,
        first_opinion_organization=s.first_opinion_organization,
        first_opinion_organization_npi=s.first_opinion_organization_npi, panel_requested=s.panel_requested,
        blind_review_requested=s.blind_review_requested or event.tenant_id in blind_review_tenants,
        records=s.attachment_count,
        requested_services=tuple(Service(r.key, r.system, r.code, r.quantity, r.unit) for r in s.requested_services),
        received_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc),
    )


async def match_case(uow: UnitOfWork, event: Event, clock: Clock, policy: MatchPolicy) -> None:
    """case.submitted: rank the eligible specialists and offer the case to the best
    one with a free slot (a panel: to the best of distinct organisations, one per
    seat); when only free slots are missing, the case waits for them
    (offer_waiting); else say why nobody can take it."""
    if await uow.directory.is_withdrawn(event.case_id):  # a case.submitted published again after the withdrawal
        log.info("withdrawn_case_not_matched")
        return
    facts = case_facts(event, policy.blind_review_tenants)
    wanted = policy.wanted(facts)
    uow.emit(matching_started(event, wanted.specialties))
    seats = policy.offers.seats(facts)
    chosen, index = await _reserve_seats(uow, event, facts, wanted, clock, policy, seats)
    if len(chosen) == seats:
        await _offer(uow, facts, chosen)
        return
    if chosen:  # a panel short of seats: nobody is offered it
        await uow.directory.release([(o.specialist_id, o.assignment_id) for o, _ in chosen], freed=False)
    full = _full(index, facts, wanted, clock.now(), chosen)
    if await _start_waiting(uow, event, facts, wanted, seats, chosen, full, clock, policy):
        return
    reason, why = _nobody_reason(index, facts, wanted, clock.now(), seats, [o for o, _ in chosen], full)
    await _unmatched(uow, event, facts, reason, why, 0, clock)


async def offer_waiting(uow: UnitOfWork, case_id: str, clock: Clock, policy: MatchPolicy) -> bool:
    """A case waiting for free slots, tried again (its next try fell due, or a slot came
    free): offered when its seats can all be filled now; unmatched once it has waited
    its limit (OfferRules.capacity_wait), or when nobody eligible is left even at
    capacity; else it waits on, tried again later. True when it no longer waits."""
    waiting = await uow.directory.waiting(case_id)
    if waiting is None:
        return True  # offered, unmatched or withdrawn meanwhile (another replica, a repeat)
    facts, now, offered = waiting.facts, clock.now(), frozenset(waiting.offered)
    wanted, seats = policy.wanted(facts), policy.offers.seats(facts)
    chosen, index = await _reserve_seats(uow, waiting.cause, facts, wanted, clock, policy, seats, offered)
    if len(chosen) == seats:
        await uow.directory.remove_waiting(case_id)
        await _offer(uow, facts, chosen)
        log.info("waiting_case_offered", waited_seconds=round((now - waiting.since).total_seconds()))
        return True
    if chosen:
        await uow.directory.release([(o.specialist_id, o.assignment_id) for o, _ in chosen], freed=False)
    full = _full(index, facts, wanted, now, chosen, offered)
    waited, wait = now - waiting.since, policy.offers.capacity_wait(facts.urgency)
    seatable = could_seat(seats, [o for o, _ in chosen], full)
    if seatable and waited < wait:
        later = dataclasses.replace(waiting, tries=waiting.tries + 1)
        await uow.directory.wait_longer(case_id, later.tries, min(later.next_try(now), waiting.since + wait))
        return False
    await uow.directory.remove_waiting(case_id)
    if seatable:
        reason, why = waited_reason(seats, len(full), waited), UnmatchedCause.UNMATCHED_CAUSE_NO_CAPACITY
    else:
        reason, why = _nobody_reason(index, facts, wanted, now, seats, chosen, full, offered)
    await _unmatched(uow, waiting.cause, facts, reason, why, len(offered), clock)
    return True


async def waiting_for_freed(directory: MatchingRepository, freed: list[Specialist], limit: int) -> list[str]:
    """The waiting cases to try now that these specialists freed slots: of the cases
    each could take, the `limit` that have waited longest (expedited first), each once."""
    found: list[str] = []
    for specialist in freed:
        found += await directory.oldest_waiting(limit, could_take=specialist)
    return list(dict.fromkeys(found))


def _full(index: DirectoryIndex, facts: CaseFacts, wanted: Wanted, now: datetime,
          chosen: list[tuple[Offer, Event]], offered: frozenset[str] = frozenset()) -> list[Specialist]:
    """The eligible specialists at capacity, but those whose slot was just taken for this
    case (and given back: they are counted among the chosen) and those offered it before."""
    left_out = offered | {offer.specialist_id for offer, _ in chosen}
    return [s for s in index.full_but_eligible(facts, wanted, now.date()) if s.specialist_id not in left_out]


def _nobody_reason(index: DirectoryIndex, facts: CaseFacts, wanted: Wanted, now: datetime, seats: int,
                   chosen: list, full: list[Specialist], offered: frozenset[str] = frozenset()) -> tuple[str, int]:
    """Why nobody can take the case, not even by waiting: a panel short of distinct
    organisations, nobody left who was not offered it, or the first rule that
    excludes everyone."""
    if seats > 1 and (chosen or full or offered):
        return (panel_reason(seats, len(chosen)) + (f"; {len(full)} more at capacity, of too few organisations"
                                                    if full else ""),
                UnmatchedCause.UNMATCHED_CAUSE_PANEL_INCOMPLETE)
    if offered:
        return nobody_left_reason(offered), UnmatchedCause.UNMATCHED_CAUSE_NOBODY_ELIGIBLE
    return (index.why_not(facts, wanted, now.date()) or "every eligible specialist filled up while matching",
            UnmatchedCause.UNMATCHED_CAUSE_NOBODY_ELIGIBLE)


async def _reserve_seats(uow: UnitOfWork, cause: Event, facts: CaseFacts, wanted: Wanted, clock: Clock,
                         policy: MatchPolicy, seats: int, offered: frozenset[str] = frozenset(),
                         taken_organizations: frozenset[str] = frozenset(), adjudicating: tuple[str, ...] = (),
                         ) -> tuple[list[tuple[Offer, Event]], DirectoryIndex]:
    """Takes a slot of the best candidates, up to `seats` of them, none offered the
    case before and no two (nor any live seat) of one organisation; the offers are
    not recorded yet. Candidates come from the directory in memory; when it cannot
    fill every seat, they are read again and tried once more (a slot may be back)."""
    day = clock.now().date()
    chosen: list[tuple[Offer, Event]] = []
    organisations = set(taken_organizations)
    refresh = None
    for _ in range(2):
        index = await uow.directory.index(refresh)
        for candidate in index.best_first(facts, wanted, day):
            specialist_id = candidate.specialist.specialist_id
            if specialist_id in offered or any(o.specialist_id == specialist_id for o, _ in chosen):
                continue
            offer, offered_event = offer_to(cause, facts, candidate, clock.now(), policy.offers, adjudicating,
                                            policy.qualified(facts))
            if organisations.intersection(offer.organizations):
                continue  # a panel's seats come from distinct organisations
            if not await uow.directory.reserve(specialist_id, offer.assignment_id):
                continue  # its last slot went to a concurrent case: next best
            chosen.append((offer, offered_event))
            organisations.update(offer.organizations)
            if len(chosen) == seats:
                return chosen, index
        refresh = tuple(s.specialist_id for s in index.candidates(wanted.specialties, facts.jurisdiction))
    return chosen, index


async def _offer(uow: UnitOfWork, facts: CaseFacts, chosen: list[tuple[Offer, Event]]) -> None:
    for offer, offered_event in chosen:
        await uow.directory.add_offer(offer, facts)
        uow.emit(offered_event)
        log.info("specialist_offered", specialist_id=offer.specialist_id, score=offer.score,
                 respond_by=offer.respond_by.isoformat(timespec="seconds"))


async def _unmatched(uow: UnitOfWork, cause: Event, facts: CaseFacts, reason: str, why: int, offers_made: int,
                     clock: Clock) -> None:
    await uow.directory.record_unmatched(cause.event_id, facts, reason, clock.now())
    uow.emit(unmatched(cause, reason, why, offers_made))
    # The reason travels in the event, to intake's timeline and to operations.
    log.warning("case_unmatched", cause=UnmatchedCause.Name(why).removeprefix("UNMATCHED_CAUSE_"))


async def offer_next(uow: UnitOfWork, event: Event, clock: Clock, policy: MatchPolicy) -> None:
    """assignment.declined, assignment.expired: the offer's slot is given back and the
    case offered to the next-best candidate not offered it before; after too many
    failed offers, or with nobody left, the case is unmatched, its other offers
    withdrawn. A panel one of whose reviewers has accepted goes on short of a seat
    instead (intake shows it ASSIGNED: it can no longer be unmatched)."""
    answer, state = ((event.assignment_declined, DECLINED) if event.type == "assignment.declined"
                     else (event.assignment_expired, EXPIRED))
    closed = await uow.directory.close_offer(answer.assignment_id, state)
    if closed is None:
        return  # answered before (a repeat), or not an offer matching made
    await uow.directory.release([(closed.specialist_id, closed.assignment_id)])
    log.info("offer_" + state, specialist_id=closed.specialist_id, assignment_id=closed.assignment_id)
    if await uow.directory.is_withdrawn(event.case_id):
        return
    decision = await uow.directory.decision(event.case_id)
    assert decision is not None  # the closed offer is one of its offers
    if closed.role == ADJUDICATOR:  # the panel still disagrees: another adjudicator
        verdict = panel_verdict(decision.offers)
        if verdict is not None:
            await _adjudicate(uow, event, decision, verdict, clock, policy)
        return
    facts, seats = decision.facts, policy.offers.seats(decision.facts)
    needs = refill(list(decision.offers), seats, policy.offers.max_attempts)
    if needs.seats == 0:
        return
    chosen: list[tuple[Offer, Event]] = []
    wanted, index = policy.wanted(facts), None
    if not needs.exhausted:
        chosen, index = await _reserve_seats(uow, event, facts, wanted, clock, policy, needs.seats, needs.offered,
                                             needs.taken_organizations)
    live = seats - needs.seats
    if len(chosen) == needs.seats or any(o.state in (ACCEPTED, OPINED) for o in decision.offers):
        await _offer(uow, facts, chosen)
        if len(chosen) < needs.seats:  # a reviewer of the panel took the case: it goes on with fewer
            log.warning("panel_short", seats=seats, reviewers=live + len(chosen))
            verdict = panel_verdict(decision.offers) if not chosen else None
            if verdict is not None:  # the seats left have all signed: the panel concludes now
                await _conclude(uow, event, decision, verdict, None, clock, policy)
        return
    # Nobody has taken the case and it cannot have the reviewers it needs: no seat stays.
    if chosen:
        await uow.directory.release([(o.specialist_id, o.assignment_id) for o, _ in chosen], freed=False)
    standing = [o for o in decision.offers if o.state in AWAITING]
    if index is not None and not standing and await _wait_again(uow, event, decision, needs, chosen, index, wanted,
                                                                  clock, policy):
        return
    for o in standing:
        await uow.directory.close_offer(o.assignment_id, WITHDRAWN)
    if standing:
        await uow.directory.release([(o.specialist_id, o.assignment_id) for o in standing])
        uow.emit(offers_withdrawn(event, [o.assignment_id for o in standing]))
    if needs.exhausted:
        reason, why = exhausted_reason(needs, policy.offers.max_attempts, seats), \
            UnmatchedCause.UNMATCHED_CAUSE_ATTEMPTS_EXHAUSTED
    elif seats > 1:
        reason, why = panel_reason(seats, live + len(chosen)), UnmatchedCause.UNMATCHED_CAUSE_PANEL_INCOMPLETE
    else:
        reason, why = nobody_left_reason(needs.offered), UnmatchedCause.UNMATCHED_CAUSE_NOBODY_ELIGIBLE
    await _unmatched(uow, event, facts, reason, why, len(decision.offers), clock)


async def _wait_again(uow: UnitOfWork, cause: Event, decision: Decision, needs: Refill, chosen: list[tuple[Offer, Event]],
                      index: DirectoryIndex, wanted: Wanted, clock: Clock, policy: MatchPolicy) -> bool:
    """After a declined or expired offer, with no offer standing (so never a panel: its
    other seats' offers stand) and nobody free left who was not offered the case: it
    waits for a free slot, as at its first matching, when specialists not offered it
    before are eligible at capacity. True when it waits."""
    full = _full(index, decision.facts, wanted, clock.now(), chosen, needs.offered)
    return await _start_waiting(uow, cause, decision.facts, wanted, needs.seats, chosen, full, clock, policy,
                                needs.offered)


async def _start_waiting(uow: UnitOfWork, cause: Event, facts: CaseFacts, wanted: Wanted, seats: int,
                         chosen: list[tuple[Offer, Event]], full: list[Specialist], clock: Clock,
                         policy: MatchPolicy, offered: frozenset[str] = frozenset()) -> bool:
    """The case waits for free slots (case.waiting) when waiting is on and those at
    capacity `full` (with the `chosen`) could seat it; True when it waits."""
    wait = policy.offers.capacity_wait(facts.urgency)
    if not wait or not could_seat(seats, [o for o, _ in chosen], full):
        return False
    waiting = Waiting(facts, cause, clock.now(), specialties=wanted.specialties, offered=tuple(sorted(offered)))
    until = waiting.since + wait
    await uow.directory.add_waiting(waiting, min(waiting.next_try(clock.now()), until))
    uow.emit(case_waiting(cause, waiting_reason(seats, len(full)), len(full), until))
    log.info("case_waiting_for_capacity", eligible_at_capacity=len(full), wait_until=until.isoformat(),
             offered_before=len(offered))
    return True


async def panel_opinion(uow: UnitOfWork, event: Event, clock: Clock, policy: MatchPolicy) -> None:
    """panel.opinion_signed: the member's slot is given back and their conclusions kept
    on their offer; once every seat has signed, the panel is concluded: agreed
    (panel.concluded: review signs the case's opinion from it), or disagreed and
    offered to an adjudicator (another eligible specialist of none of the members'
    organisations, who sees every member's opinion)."""
    signed = event.panel_opinion_signed.opinion
    await uow.directory.release([(signed.specialist_id, signed.assignment_id)])
    if not await uow.directory.record_opinion(signed.assignment_id, (signed.opinion_id, signed.diagnosis,
                                                                        signed.treatment, _own_code(signed))):
        return  # a repeat, or an offer withdrawn meanwhile
    if await uow.directory.is_withdrawn(event.case_id):
        return
    decision = await uow.directory.decision(event.case_id)
    verdict = panel_verdict(decision.offers) if decision is not None else None
    if decision is None or verdict is None:
        return  # a seat has not signed yet
    await _conclude(uow, event, decision, verdict, signed, clock, policy)


def _own_code(signed: OpinionSubmitted) -> str:
    """The reviewer's diagnosis, when it is their own (REFINED, DIFFERENT): two members
    refining it differently disagree."""
    return "" if signed.diagnosis == DiagnosisConcordance.DIAGNOSIS_CONCORDANCE_CONFIRMED \
        else signed.reviewer_diagnosis_code


async def _conclude(uow: UnitOfWork, cause: Event, decision: Decision, verdict: PanelVerdict, signed, clock: Clock,
                    policy: MatchPolicy) -> None:
    if verdict.alone:
        only = signed or next(iter(_members_conclusions(decision)))
        uow.emit(panel_concluded(cause, PanelOutcome.PANEL_OUTCOME_ALONE, verdict.opinion_ids, agreed=only))
        log.warning("panel_concluded_alone")
        return
    if verdict.agreed:
        agreed = signed or next(iter(_members_conclusions(decision)))
        uow.emit(panel_concluded(cause, PanelOutcome.PANEL_OUTCOME_AGREED, verdict.opinion_ids, agreed=agreed))
        log.info("panel_agreed", members=len(verdict.opinion_ids))
        return
    await _adjudicate(uow, cause, decision, verdict, clock, policy)


def _members_conclusions(decision: Decision):
    """The members' coded conclusions as an event would carry them (the old concordances mapped back)."""
    for o in decision.offers:
        if o.role == REVIEWER and o.state == OPINED and o.opinion is not None:
            yield OpinionSubmitted(diagnosis=o.opinion[1], treatment=o.opinion[2], reviewer_diagnosis_code=o.opinion[3])


async def _adjudicate(uow: UnitOfWork, cause: Event, decision: Decision, verdict: PanelVerdict, clock: Clock,
                      policy: MatchPolicy) -> None:
    """Offers the disagreeing panel to an adjudicator; with nobody left (or after too
    many declined), the panel is concluded on the members' views alone."""
    facts = decision.facts
    chosen: list[tuple[Offer, Event]] = []
    if adjudicators_failed(decision.offers) < policy.offers.max_attempts:
        wanted = policy.wanted(facts)
        members = [o for o in decision.offers if o.role == REVIEWER and o.state == OPINED]
        chosen, _ = await _reserve_seats(
            uow, cause, facts, wanted, clock, policy, 1, frozenset(o.specialist_id for o in decision.offers),
            frozenset(org for o in members for org in o.organizations), adjudicating=verdict.opinion_ids)
    if chosen:
        await _offer(uow, facts, chosen)
        log.info("panel_adjudication_offered", members=len(verdict.opinion_ids))
        return
    uow.emit(panel_concluded(cause, PanelOutcome.PANEL_OUTCOME_DISAGREED, verdict.opinion_ids))
    log.warning("panel_disagreed_unadjudicated", members=len(verdict.opinion_ids))


async def records_added(uow: UnitOfWork, event: Event) -> None:
    """documents.added: offers made from now on carry the case's records (a refilled
    seat, an adjudicator): a reviewer's SLA clock waits for the first."""
    await uow.directory.records_added(event.case_id, event.documents_added.count)


async def offer_accepted(directory: MatchingRepository, event: Event) -> bool:
    """assignment.accepted: the offer's deadline no longer applies. False for a repeat."""
    return await directory.offer_accepted(event.assignment_accepted.assignment_id)


async def offers_overdue(uow: UnitOfWork, assignment_ids: list[str], now: datetime) -> None:
    """Deadlines fell due: each offer still open goes to review to decide (it expires
    it unless the reviewer answered first; matching hears which)."""
    for offer in await uow.directory.offers_overdue(assignment_ids, now):
        uow.emit(deadline_passed(offer))
        with bound_contextvars(case_id=offer.case_id):
            log.info("offer_deadline_passed", assignment_id=offer.assignment_id)


async def release_capacity(directory: MatchingRepository, events: list[Event]) -> list[bool | None]:
    """opinion.submitted: each specialist's slot is given back, once per offer, in
    one write for all of them (no transaction: see repository). Per event True,
    False for a repeat, or None: release it alone to know."""
    holding = [e for e in events if e.opinion_submitted.assignment_id]  # a panel's opinion holds no slot
    done = await directory.release([(e.opinion_submitted.specialist_id, e.opinion_submitted.assignment_id)
                                    for e in holding]) if holding else []
    by_id = dict(zip((e.event_id for e in holding), done, strict=True))
    released = [by_id.get(e.event_id, True) for e in events]
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
    await uow.directory.remove_waiting(event.case_id)  # a case waiting for a free slot waits no more
    await uow.directory.close_offers_of_case(event.case_id)
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


class Upserted(NamedTuple):
    specialist: Specialist  # as listed now
    created: bool
    changed: bool  # False: the directory held exactly this (no new version, nothing told)


async def upsert_specialist(uow: UnitOfWork, proposed: Specialist, expected_version: int,
                            now: datetime, quiet: bool = False, reactivate: bool = False) -> Upserted:
    """Creates or replaces a specialist (`expected_version` 0: whatever is there) and
    tells the platform (`quiet`: no log line of its own, an import logs one for the file)."""
    current = await uow.directory.specialist(proposed.specialist_id)
    if expected_version and (current is None or current.version != expected_version):
        raise VersionConflict(current.version if current else 0)
    saved = listed(current, proposed, reactivate)
    if changes_nothing(current, saved):
        return Upserted(current, False, False)
    try:
        if not await uow.directory.save_specialist(saved, current):
            raise VersionConflict(-1)  # changed between the read and the write: read again
    except AlreadyListed:
        raise VersionConflict(-1) from None
    uow.emit(specialist_changed(saved, created=current is None, now=now))
    if not quiet:
        log.info("specialist_listed", specialist_id=saved.specialist_id, version=saved.version,
                 created=current is None)
    return Upserted(saved, current is None, True)


async def deactivate_specialist(uow: UnitOfWork, specialist_id: str, now: datetime) -> Specialist:
    """The specialist is never offered a case again, and the offers they have not
    answered are taken back: each goes to review to expire as at its deadline, and its
    case to the next candidate (matching hears the expiry). Work they accepted stays
    theirs. Deactivating again takes back what is still open, and tells nothing else."""
    current = await uow.directory.specialist(specialist_id)
    if current is None:
        raise NotFound(specialist_id)
    saved = current
    if current.active:
        saved = deactivated(current)
        if not await uow.directory.save_specialist(saved, current):
            raise VersionConflict(-1)
        uow.emit(specialist_changed(saved, created=False, now=now))
    taken_back = await uow.directory.take_back_open_offers(specialist_id)
    for offer in taken_back:
        uow.emit(deadline_passed(offer, specialist_deactivated=True))
    if current.active or taken_back:
        log.info("specialist_deactivated", specialist_id=specialist_id, version=saved.version,
                 offers_taken_back=len(taken_back))
    return saved


async def get_specialist(directory: MatchingRepository, specialist_id: str) -> Specialist:
    found = await directory.specialist(specialist_id)
    if found is None:
        raise NotFound(specialist_id)
    return found


NOTIFY_SERVICE = "service:notify"  # the one caller GetSpecialistContact answers
SERVICES_TENANT = "secondlook-services"  # the platform's own services' tenant
DIRECTORY_AUDIT = "secondlook-directory"  # the access audit's chain of reads of specialists' contact details


class NotNotifyService(Exception):
    """A contact-reader token that is not the notify service's."""


async def specialist_contact(directory: MatchingRepository, audit: AuditTrail, clock: Clock, principal: Principal,
                             specialist_id: str, purpose: str, channels: tuple[str, ...] = ("email",)) -> Contact:
    """How to reach a specialist by the channels asked for, to the notify service
    sending them a notice, once the access audit has recorded the read as made for
    that notice (the purpose; never the details themselves). NotFound for a specialist
    the directory does not list, or one deactivated (nobody offers them a case)."""
    if principal.subject != NOTIFY_SERVICE or principal.tenant != SERVICES_TENANT:
        raise NotNotifyService(principal.subject)
    found = await directory.specialist(specialist_id)
    if found is None or not found.active:
        raise NotFound(specialist_id)
    parts = tuple(dict.fromkeys(p for channel in channels for p in CONTACT_CHANNELS[channel]))
    await audit.record(Access(tenant_id=DIRECTORY_AUDIT, subject=f"{purpose} via {principal.subject}",
                              roles=tuple(sorted(principal.roles)), method="GetSpecialistContact",
                              case_id=specialist_id, fields=parts, at=clock.now(), caller_tenant=principal.tenant))
    return contact_for(found, channels)


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
    if decision.offers and decision.waiting_since is None:  # waiting again after a declined or expired offer?
        waiting = await directory.waiting(case_id)
        decision = dataclasses.replace(decision, waiting_since=waiting.since) if waiting else decision
    wanted = policy.wanted(decision.facts)
    specialists = sorted(await everyone(), key=lambda s: s.specialist_id)
    verdicts = assess(decision.facts, wanted, specialists, today, policy.weights)
    ranked = sorted((v.candidate for v in verdicts if v.candidate), key=lambda c: (-c.score.total, c.tiebreak))
    return Explanation(decision, wanted.specialties, verdicts,
                       {c.specialist.specialist_id: i for i, c in enumerate(ranked, start=1)})


IMPORT_BATCH = 100  # specialists per transaction


class Imported(NamedTuple):
    created: int
    updated: int
    unchanged: int


async def import_specialists(transact, proposed: list[Specialist], now: datetime,
                             dry_run: bool = False) -> Imported:
    """Upserts every specialist (`expected_version` 0), a batch per transaction, each
    with its event; a row the directory already holds as it is changes nothing.
    `dry_run` counts without writing."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for start in range(0, len(proposed), IMPORT_BATCH):
        batch = proposed[start:start + IMPORT_BATCH]

        async def body(uow: UnitOfWork, batch=batch) -> list[str]:
            outcomes = []
            for s in batch:
                if dry_run:
                    current = await uow.directory.specialist(s.specialist_id)
                    created, changed = current is None, not changes_nothing(current, listed(current, s))
                else:
                    _, created, changed = await upsert_specialist(uow, s, 0, now, quiet=True)
                outcomes.append("created" if created else "updated" if changed else "unchanged")
            return outcomes

        for outcome in await transact(body):
            counts[outcome] += 1
    return Imported(**counts)

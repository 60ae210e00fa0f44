"""Offers, as entities and events, and the protocol they follow.

An offer holds one of its specialist's slots and waits for an answer until its
deadline (by the case's urgency). Review owns the answer: an acceptance stands;
a decline, or a deadline passed unanswered, closes the offer, gives the slot
back and sends matching to the next-best candidate not yet offered the case,
until `max_attempts` offers per seat have failed or nobody is left: then the
case is unmatched, with the cause. A panel case has several seats, each
offered to a reviewer from an organisation no other live seat belongs to.

Capacity is taken by the use case, atomically, one candidate at a time, so the
best candidate with a free slot at commit time gets the offer. A case nobody can
take now, but that specialists at capacity could, waits (Waiting) and is tried
again as slots come free, for at most `capacity_wait_seconds`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from secondlook.events import Event, caused_by, new_event
from secondlook.v1 import case_pb2, events_pb2
from secondlook.v1.case_pb2 import Urgency
from secondlook.v1.events_pb2 import UnmatchedCause

from .directory import Specialist
from .matcher import Candidate, CaseFacts

# An offer's state as matching knows it. Review decides the answer; matching
# hears it (or sends the deadline for review to decide: EXPIRING).
OPEN, EXPIRING, ACCEPTED, DECLINED, EXPIRED, WITHDRAWN = "open", "expiring", "accepted", "declined", "expired", "withdrawn"
OPINED = "opined"  # a panel member's opinion is signed (the panel is concluded once every seat is)
REVIEWER, ADJUDICATOR = "reviewer", "adjudicator"
AWAITING = (OPEN, EXPIRING)  # no answer heard yet
# A deadline sent to review and not answered (its answer lost, or review's copy of the
# offer dead-lettered) is sent again this long after, up to MAX_SENDS times in all.
RESEND_AFTER = timedelta(minutes=10)
MAX_SENDS = 3
LIVE = (OPEN, EXPIRING, ACCEPTED, OPINED)  # holds its seat
FAILED = (DECLINED, EXPIRED)


@dataclass(frozen=True)
class OfferRules:
    """The offer protocol's settings."""

    ttl_seconds: int = 86_400  # time to answer a standard case's offer
    expedited_ttl_seconds: int = 4 * 3600
    max_attempts: int = 5  # failed offers (declined, expired) per seat before the case is unmatched
    panel_size: int = 3  # seats of a panel case, each from a distinct organisation
    capacity_wait_seconds: int = 86_400  # a case eligible specialists at capacity could take waits this long (0: not)

    def capacity_wait(self, urgency: int) -> timedelta:
        """How long a case waits for free slots: an expedited one no longer than its offer
        could be answered in (its whole clock is 72 hours), then it is an escalation."""
        wait = self.capacity_wait_seconds
        return timedelta(seconds=min(wait, self.expedited_ttl_seconds) if urgency == Urgency.URGENCY_EXPEDITED
                         else wait)

    def ttl(self, urgency: int) -> int:
        return self.expedited_ttl_seconds if urgency == Urgency.URGENCY_EXPEDITED else self.ttl_seconds

    def seats(self, facts: CaseFacts) -> int:
        return self.panel_size if facts.panel_requested else 1


@dataclass(frozen=True)
class Offer:
    """A specialist offered a case, holding one of their slots until the opinion."""

    assignment_id: str
    case_id: str
    tenant_id: str
    specialist_id: str
    specialty: str
    score: float
    explanation: str
    offered_at: datetime
    respond_by: datetime
    state: str = OPEN
    organizations: tuple[str, ...] = ()  # the specialist's, when offered: a panel's seats never share one
    traceparent: str = ""
    role: str = REVIEWER
    # A panel member's signed opinion: (opinion id, diagnosis concordance, treatment concordance,
    # the reviewer's ICD-10-CM code when REFINED or DIFFERENT).
    opinion: tuple[str, int, int, str] | None = None


def organizations(s: Specialist) -> tuple[str, ...]:
    return tuple(sorted({a.organization_id.strip().casefold() for a in s.affiliations if a.organization_id.strip()}))


@dataclass(frozen=True)
class Refill:
    """What the case needs after one of its offers failed."""

    seats: int  # seats to offer now
    offered: frozenset[str]  # specialists offered the case before: never again
    taken_organizations: frozenset[str]  # organisations of the live seats
    failed: int
    exhausted: bool  # the failed offers reached the limit


def refill(offers: list[Offer], seats: int, max_attempts: int) -> Refill:
    """The seats to fill again: the panel's (or the single reviewer's), not an adjudicator's."""
    offered = frozenset(o.specialist_id for o in offers)
    offers = [o for o in offers if o.role == REVIEWER]
    live = [o for o in offers if o.state in LIVE]
    failed = sum(o.state in FAILED for o in offers)
    return Refill(seats=max(0, seats - len(live)), offered=offered,
                  taken_organizations=frozenset(org for o in live for org in o.organizations),
                  failed=failed, exhausted=failed >= max_attempts * seats)


def exhausted_reason(r: Refill, max_attempts: int, seats: int) -> str:
    return f"{r.failed} offers declined or expired: the limit is {max_attempts * seats}"


def nobody_left_reason(offered: frozenset[str]) -> str:
    n = len(offered)
    return (f"no eligible specialist with a free slot is left who was not offered the case "
            f"({n} {'was' if n == 1 else 'were'})")


def panel_reason(seats: int, found: int) -> str:
    return (f"a panel of {seats} needs reviewers from {seats} distinct organisations; "
            f"{found} eligible with a free slot")


# A waiting case is tried again this long after, doubling each time up to the most,
# and at once when a slot comes free on this replica.
WAIT_RETRY_FIRST_SECONDS, WAIT_RETRY_MOST_SECONDS = 30.0, 300.0


@dataclass(frozen=True)
class Waiting:
    """A case waiting for a free slot: what it was matched on, the event it waits from
    (case.submitted, or the declined or expired offer after which nobody free was
    left: the offers it gets are caused by it), since when, and tries so far."""

    facts: CaseFacts
    cause: Event
    since: datetime
    tries: int = 0
    specialties: tuple[str, ...] = ()  # those wanted for it: a slot of one of them may fit it
    offered: tuple[str, ...] = ()  # specialists offered it before (who declined or let it expire): never again

    def next_try(self, now: datetime) -> datetime:
        wait = min(WAIT_RETRY_MOST_SECONDS, WAIT_RETRY_FIRST_SECONDS * 2 ** min(self.tries, 8))
        return now + timedelta(seconds=wait)


def could_seat(seats: int, chosen: list[Offer], full: list[Specialist]) -> bool:
    """Whether the specialists at capacity, with those `chosen` (free now), could fill
    every seat once they have slots: a panel's from distinct organisations."""
    taken = {org for offer in chosen for org in offer.organizations}
    filled = len(chosen)
    for s in full:
        orgs = set(organizations(s))
        if not orgs & taken:
            taken |= orgs
            filled += 1
    return filled >= seats


def waiting_reason(seats: int, full: int) -> str:
    needed = "a free slot" if seats == 1 else f"free slots for a panel of {seats}"
    return f"{full} eligible specialist{'s are' if full != 1 else ' is'} at capacity: the case waits for {needed}"


def waited_reason(seats: int, full: int, waited: timedelta) -> str:
    minutes = round(waited.total_seconds() / 60)
    span = f"{minutes} min" if minutes < 120 else f"{round(minutes / 60, 1):g} h"
    return (f"waited {span} for {'a free slot' if seats == 1 else f'free slots for a panel of {seats}'}; "
            f"{full} eligible specialist{'s are' if full != 1 else ' is'} still at capacity")


def case_waiting(cause: Event, reason: str, full: int, until: datetime) -> Event:
    payload = events_pb2.CaseWaiting(reason=reason, eligible_at_capacity=full)
    payload.wait_until.FromDatetime(until)
    return caused_by(cause, payload, producer="matching")


@dataclass(frozen=True)
class Decision:
    """What matching decided for a case, as recorded: the facts it matched on, the
    offers it made and why nobody could take it (when nobody could)."""

    facts: CaseFacts
    offers: tuple[Offer, ...]
    unmatched_reasons: tuple[str, ...]
    waiting_since: datetime | None = None  # waiting for a free slot since then


def matching_started(cause: Event, specialties: tuple[str, ...]) -> Event:
    return caused_by(cause, events_pb2.MatchingStarted(specialties=list(specialties)), producer="matching")


def offer_to(cause: Event, facts: CaseFacts, candidate: Candidate, now: datetime,
             rules: OfferRules, adjudicating: tuple[str, ...] = (),
             qualified: tuple[tuple[str, ...], ...] = ()) -> tuple[Offer, Event]:
    """The offer of the case to `candidate`, made because of `cause` (the case's
    submission, or an earlier offer declined or expired); with `adjudicating`, to
    adjudicate the panel whose members signed those opinions. A prior authorization's
    offer names its items, each with the specialties that may deny or modify it
    (`qualified`, in the items' order)."""
    offer = Offer(
        assignment_id=str(uuid.uuid4()), case_id=facts.case_id, tenant_id=facts.tenant_id,
        specialist_id=candidate.specialist.specialist_id, specialty=candidate.specialty, score=candidate.score.total,
        explanation=candidate.explanation, offered_at=now, respond_by=now + timedelta(seconds=rules.ttl(facts.urgency)),
        organizations=organizations(candidate.specialist), traceparent=cause.traceparent,
        role=ADJUDICATOR if adjudicating else REVIEWER,
    )
    seats = rules.seats(facts)
    payload = events_pb2.SpecialistOffered(
        assignment_id=offer.assignment_id, specialist_id=offer.specialist_id, specialty=offer.specialty,
        explanation=offer.explanation, diagnosis_code=facts.diagnosis_code, urgency=facts.urgency,
        blind_review=facts.blind_review_requested, records=facts.records, panel_size=seats if seats > 1 else 0,
        adjudicates=bool(adjudicating), panel_opinion_ids=list(adjudicating), kind=facts.kind,
        requested_services=[
            case_pb2.RequestedService(key=s.key, system=s.system, code=s.code, quantity=s.quantity, unit=s.unit,
                                      qualified_specialties=list(deciders))
            for s, deciders in zip(facts.requested_services, qualified or [()] * len(facts.requested_services),
                                   strict=True)],
    )
    payload.respond_by.FromDatetime(offer.respond_by)
    if facts.received_at is not None:
        payload.received_at.FromDatetime(facts.received_at)
    return offer, caused_by(cause, payload, producer="matching")


def deadline_passed(offer: Offer, specialist_deactivated: bool = False) -> Event:
    """The offer goes to review to expire: its deadline passed, or (`specialist_deactivated`)
    it is taken back before it."""
    payload = events_pb2.OfferDeadlinePassed(assignment_id=offer.assignment_id, specialist_id=offer.specialist_id,
                                             specialist_deactivated=specialist_deactivated)
    payload.respond_by.FromDatetime(offer.respond_by)
    return new_event(payload, case_id=offer.case_id, tenant_id=offer.tenant_id, producer="matching",
                     traceparent=offer.traceparent)


def unmatched(cause: Event, reason: str, why: int = UnmatchedCause.UNMATCHED_CAUSE_NOBODY_ELIGIBLE,
              offers_made: int = 0) -> Event:
    return caused_by(cause, events_pb2.CaseUnmatched(reason=reason, cause=why, offers_made=offers_made),
                     producer="matching")


def offers_withdrawn(cause: Event, assignment_ids: list[str]) -> Event:
    return caused_by(cause, events_pb2.OffersWithdrawn(assignment_ids=assignment_ids), producer="matching")


@dataclass(frozen=True)
class PanelVerdict:
    """Every seat of a panel signed: whether they agree (diagnosis and treatment
    concordance), and their opinions."""

    agreed: bool
    opinion_ids: tuple[str, ...]
    alone: bool = False  # one seat signed (the others declined, nobody to refill them)


def panel_verdict(offers: list[Offer] | tuple[Offer, ...]) -> PanelVerdict | None:
    """The panel's verdict once every live seat has signed; None while one has not,
    or while an adjudicator holds (or held) the case."""
    members = [o for o in offers if o.role == REVIEWER and o.state in LIVE]
    if not members or any(o.state != OPINED or o.opinion is None for o in members):
        return None
    if any(o.role == ADJUDICATOR and o.state in LIVE for o in offers):
        return None
    # The same concordances, and the same diagnosis when it is the reviewers' own.
    conclusions = {o.opinion[1:] for o in members if o.opinion is not None}
    ids = tuple(o.opinion[0] for o in members if o.opinion)
    if len(ids) == 1:  # a panel gone short to one reviewer: theirs is the only view
        return PanelVerdict(agreed=False, opinion_ids=ids, alone=True)
    return PanelVerdict(agreed=len(conclusions) == 1, opinion_ids=ids)


def adjudicators_failed(offers: list[Offer] | tuple[Offer, ...]) -> int:
    return sum(o.role == ADJUDICATOR and o.state in FAILED for o in offers)


def panel_concluded(cause: Event, outcome: int, opinion_ids: tuple[str, ...],
                    agreed: events_pb2.OpinionSubmitted | None = None) -> Event:
    payload = events_pb2.PanelConcluded(outcome=outcome, opinion_ids=list(opinion_ids))
    if agreed is not None:
        payload.agreed.CopyFrom(events_pb2.OpinionSubmitted(
            diagnosis=agreed.diagnosis, treatment=agreed.treatment, reviewer_diagnosis_code=agreed.reviewer_diagnosis_code,
            diagnosis_concordance=agreed.diagnosis_concordance, treatment_concordance=agreed.treatment_concordance))
    return caused_by(cause, payload, producer="matching")

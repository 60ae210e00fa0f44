"""In-memory fakes of matching's ports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime

from secondlook.v1 import case_pb2
from services.matching.domain.directory import AlreadyListed, Certification, DirectoryQuery, Licence, Specialist
from services.matching.domain.index import DirectoryIndex
from services.matching.domain.matcher import CaseFacts
from services.matching.domain.offers import ACCEPTED, AWAITING, EXPIRING, OPEN, WITHDRAWN, Decision, Offer, Waiting
from tests.fakes.transact import FakeTransact, FakeUnitOfWork

FAR = date(2099, 12, 31)
MEDICAL_ONCOLOGY, HEMATOLOGY_ONCOLOGY, NEUROLOGY = "207RX0202X", "207RH0003X", "2084N0400X"


def specialist(sid: str, *, specialties=(MEDICAL_ONCOLOGY,), licensed=("US-CA",), languages=("en",),
               capacity=2, free=None, expires=FAR, **other) -> Specialist:
    """A specialist every hard rule lets through for a breast cancer case in US-CA in
    English, unless told otherwise (licences and certifications expire on `expires`)."""
    other.setdefault("npi", "1234567893")
    other.setdefault("certifications", tuple(Certification("ABIM", s, expires) for s in specialties))
    return Specialist(
        specialist_id=sid, specialties=tuple(specialties), licences=tuple(Licence(j, expires) for j in licensed),
        languages=frozenset(languages), capacity=capacity, free_slots=capacity if free is None else free, **other)


@dataclass
class MatchingState:
    specialists: dict[str, Specialist] = field(default_factory=dict)
    directory_reads: list[bool] = field(default_factory=list)  # per read: whether asked fresh
    offers: dict[str, Offer] = field(default_factory=dict)
    holding: dict[str, str] = field(default_factory=dict)  # assignment id -> the specialist whose slot it holds
    withdrawn: set[str] = field(default_factory=set)
    facts: dict[str, CaseFacts] = field(default_factory=dict)  # per case, as first matched
    unmatched: dict[str, tuple[str, str]] = field(default_factory=dict)  # event id -> (case, reason)
    waiting: dict[str, tuple[Waiting, datetime]] = field(default_factory=dict)  # case -> (waiting, next try)


class InMemoryDirectory:
    def __init__(self, state: MatchingState):
        self._state = state

    async def index(self, refresh: tuple[str, ...] | None = None) -> DirectoryIndex:
        self._state.directory_reads.append(refresh is not None)
        return DirectoryIndex(self._state.specialists.values())

    async def reserve(self, specialist_id: str, assignment_id: str) -> bool:
        s = self._state.specialists.get(specialist_id)
        if s is None or not s.accepting or not s.active or s.free_slots <= 0:
            return False
        self._state.specialists[specialist_id] = dataclasses.replace(s, free_slots=s.free_slots - 1)
        self._state.holding[assignment_id] = specialist_id
        return True

    async def add_offer(self, offer: Offer, facts: CaseFacts) -> None:
        assert offer.assignment_id not in self._state.offers
        self._state.offers[offer.assignment_id] = offer
        self._state.facts.setdefault(offer.case_id, facts)

    async def close_offer(self, assignment_id: str, state: str) -> Offer | None:
        offer = self._state.offers.get(assignment_id)
        if offer is None or offer.state not in AWAITING:
            return None
        self._state.offers[assignment_id] = offer = dataclasses.replace(offer, state=state)
        return offer

    async def offer_accepted(self, assignment_id: str) -> bool:
        return await self.close_offer(assignment_id, ACCEPTED) is not None

    async def record_opinion(self, assignment_id: str, opinion: tuple[str, int, int]) -> bool:
        offer = self._state.offers.get(assignment_id)
        if offer is None or offer.state not in (*AWAITING, ACCEPTED):
            return False
        self._state.offers[assignment_id] = dataclasses.replace(offer, state="opined", opinion=opinion)
        return True

    async def offers_overdue(self, assignment_ids: list[str], now: datetime) -> list[Offer]:
        due = [dataclasses.replace(o, state=EXPIRING) for i in assignment_ids
               if (o := self._state.offers.get(i)) and o.state == OPEN and o.respond_by <= now]
        self._state.offers.update((o.assignment_id, o) for o in due)
        return due

    async def take_back_open_offers(self, specialist_id: str) -> list[Offer]:
        taken = [dataclasses.replace(o, state=EXPIRING) for o in self._state.offers.values()
                 if o.specialist_id == specialist_id and o.state == OPEN]
        self._state.offers.update((o.assignment_id, o) for o in taken)
        return taken

    async def close_offers_of_case(self, case_id: str) -> None:
        for o in list(self._state.offers.values()):
            if o.case_id == case_id and o.state in AWAITING:
                self._state.offers[o.assignment_id] = dataclasses.replace(o, state=WITHDRAWN)

    async def record_unmatched(self, event_id: str, facts: CaseFacts, reason: str, at: datetime) -> None:
        if event_id not in self._state.unmatched:
            self._state.unmatched[event_id] = (facts.case_id, reason)
            self._state.facts.setdefault(facts.case_id, facts)

    async def decision(self, case_id: str) -> Decision | None:
        if case_id not in self._state.facts:
            waiting = self._state.waiting.get(case_id)
            return Decision(waiting[0].facts, (), (), waiting[0].since) if waiting else None
        return Decision(self._state.facts[case_id],
                        tuple(o for o in self._state.offers.values() if o.case_id == case_id),
                        tuple(reason for c, reason in self._state.unmatched.values() if c == case_id))

    async def offers_for_case(self, case_id: str) -> list[tuple[str, str]]:
        return [(o.specialist_id, o.assignment_id) for o in self._state.offers.values() if o.case_id == case_id]

    async def mark_withdrawn(self, case_id: str) -> None:
        self._state.withdrawn.add(case_id)

    async def is_withdrawn(self, case_id: str) -> bool:
        return case_id in self._state.withdrawn

    async def specialist(self, specialist_id: str) -> Specialist | None:
        return self._state.specialists.get(specialist_id)

    async def save_specialist(self, saved: Specialist, previous: Specialist | None) -> bool:
        current = self._state.specialists.get(saved.specialist_id)
        if previous is None:
            if current is not None:
                raise AlreadyListed(saved.specialist_id)
        elif current is None or current.version != previous.version:
            return False  # the store's guard: the version read
        else:  # the slots in use move with the capacity, as the store's $inc does
            saved = dataclasses.replace(saved, free_slots=current.free_slots + saved.capacity - previous.capacity)
        self._state.specialists[saved.specialist_id] = saved
        return True

    async def list_specialists(self, query: DirectoryQuery, after: str, limit: int,
                               today: date) -> list[Specialist]:
        found = [s for _, s in sorted(self._state.specialists.items())
                 if s.specialist_id > after and query.matches(s, today)]
        return found[:limit]

    async def release(self, holds: list[tuple[str, str]], freed: bool = True) -> list[bool | None]:
        released: list[bool | None] = []
        for specialist_id, assignment_id in holds:
            if self._state.holding.get(assignment_id) != specialist_id:
                released.append(False)
                continue
            del self._state.holding[assignment_id]
            s = self._state.specialists[specialist_id]
            self._state.specialists[specialist_id] = dataclasses.replace(s, free_slots=s.free_slots + 1)
            released.append(True)
        return released

    async def add_waiting(self, waiting: Waiting, next_try_at: datetime) -> None:
        self._state.waiting.setdefault(waiting.facts.case_id, (waiting, next_try_at))

    async def waiting(self, case_id: str) -> Waiting | None:
        found = self._state.waiting.get(case_id)
        return found[0] if found else None

    async def wait_longer(self, case_id: str, tries: int, next_try_at: datetime) -> None:
        waiting, _ = self._state.waiting[case_id]
        self._state.waiting[case_id] = (dataclasses.replace(waiting, tries=tries), next_try_at)

    async def remove_waiting(self, case_id: str) -> None:
        self._state.waiting.pop(case_id, None)

    async def oldest_waiting(self, limit: int, could_take: Specialist | None = None) -> list[str]:
        queue = sorted(self._state.waiting.values(), key=lambda w: (
            w[0].facts.urgency != case_pb2.URGENCY_EXPEDITED, w[0].since))
        fits = [w for w, _ in queue if could_take is None or (
            w.facts.jurisdiction in could_take.jurisdictions() and set(w.specialties) & set(could_take.specialties)
            and could_take.specialist_id not in w.offered)]
        return [w.facts.case_id for w in fits[:limit]]

    async def count_waiting(self) -> int:
        return len(self._state.waiting)

    async def records_added(self, case_id: str, count: int) -> None:
        if case_id in self._state.facts:  # the facts its offers were made on
            facts = self._state.facts[case_id]
            self._state.facts[case_id] = dataclasses.replace(facts, records=facts.records + count)
        if case_id in self._state.waiting:
            waiting, next_try = self._state.waiting[case_id]
            more = dataclasses.replace(waiting.facts, records=waiting.facts.records + count)
            self._state.waiting[case_id] = (dataclasses.replace(waiting, facts=more), next_try)


class FakeMatchingUnitOfWork(FakeUnitOfWork):
    def __init__(self, state: MatchingState):
        super().__init__(state)
        self.directory = InMemoryDirectory(state)


def matching_transact(*specialists: Specialist) -> FakeTransact:
    return FakeTransact(MatchingState(specialists={s.specialist_id: s for s in specialists}), FakeMatchingUnitOfWork)

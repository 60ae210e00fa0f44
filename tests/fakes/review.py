"""In-memory fakes of review's ports."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from secondlook.v1.review_pb2 import AssignmentState
from services.review.domain.assignment import Assignment
from services.review.domain.opinion import OpinionRecord
from tests.fakes.transact import FakeTransact, FakeUnitOfWork


@dataclass
class ReviewState:
    assignments: dict[str, Assignment] = field(default_factory=dict)
    opinions: dict[str, OpinionRecord] = field(default_factory=dict)


class InMemoryReviewRepository:
    def __init__(self, state: ReviewState):
        self._state = state

    async def add_offer(self, assignment: Assignment) -> bool:
        if assignment.assignment_id in self._state.assignments:
            return False
        self._state.assignments[assignment.assignment_id] = assignment
        return True

    async def add_offers(self, assignments: list[Assignment]) -> list[bool]:
        return [await self.add_offer(a) for a in assignments]

    async def get_for_specialist(self, assignment_id: str, specialist_id: str) -> Assignment | None:
        found = self._state.assignments.get(assignment_id)
        return found if found is not None and found.specialist_id == specialist_id else None

    async def get_many(self, assignment_ids: list[str]) -> list[Assignment]:
        return [self._state.assignments[i] for i in assignment_ids if i in self._state.assignments]

    async def save_move(self, before: Assignment, after: Assignment) -> bool:
        current = self._state.assignments.get(before.assignment_id)
        if current is None or current.specialist_id != before.specialist_id or current.version != before.version:
            return False
        self._state.assignments[before.assignment_id] = after
        return True

    async def waiting_for_records(self, case_id: str) -> list[Assignment]:
        return [a for a in self._state.assignments.values()
                if a.case_id == case_id and a.state in (AssignmentState.ASSIGNMENT_STATE_OFFERED,
                                                        AssignmentState.ASSIGNMENT_STATE_ACCEPTED,
                                                        AssignmentState.ASSIGNMENT_STATE_IN_REVIEW,
                                                        AssignmentState.ASSIGNMENT_STATE_NEEDS_INFO)]

    async def add_opinion(self, opinion: OpinionRecord) -> None:
        assert opinion.opinion_id not in self._state.opinions
        assert (opinion.assignment_id, opinion.version) not in {(o.assignment_id, o.version)
                                                               for o in self._state.opinions.values()}
        self._state.opinions[opinion.opinion_id] = opinion

    async def opinions_of(self, assignment_id: str) -> list[OpinionRecord]:
        return sorted((o for o in self._state.opinions.values() if o.assignment_id == assignment_id),
                      key=lambda o: o.version)



class InMemoryInbox:
    """The read side, over whatever the fake transact has committed."""

    def __init__(self, transact: FakeTransact):
        self._transact = transact

    async def list_for_specialist(self, specialist_id: str, states: list[int]) -> list[Assignment]:
        found = [a for a in self._transact.state.assignments.values()
                 if a.specialist_id == specialist_id and (not states or a.state in states)]
        return sorted(found, key=lambda a: a.offered_at)

    async def page_for_specialist(self, specialist_id: str, query, limit: int) -> list[Assignment]:
        found = sorted((a for a in self._transact.state.assignments.values()
                        if a.specialist_id == specialist_id and (not query.states or a.state in query.states)
                        and (not query.urgency or a.urgency == query.urgency)),
                       key=lambda a: (a.offered_at, a.assignment_id))
        return [a for a in found if query.after is None or (a.offered_at, a.assignment_id) > query.after][:limit]

    async def get_for_specialist(self, assignment_id: str, specialist_id: str) -> Assignment | None:
        found = self._transact.state.assignments.get(assignment_id)
        return found if found is not None and found.specialist_id == specialist_id else None

    async def opinions_of(self, assignment_id: str) -> list[OpinionRecord]:
        return await InMemoryReviewRepository(self._transact.state).opinions_of(assignment_id)

    async def panel_opinions(self, assignment: Assignment) -> list[OpinionRecord]:
        """As the adapter: the latest version of each other member's opinion."""
        latest: dict[str, OpinionRecord] = {}
        for o in self._transact.state.opinions.values():
            ours = o.opinion_id in assignment.panel_opinion_ids if assignment.adjudicates \
                else o.case_id == assignment.case_id
            if ours and o.assignment_id != assignment.assignment_id and \
                    o.version >= latest.get(o.assignment_id, o).version:
                latest[o.assignment_id] = o
        return sorted(latest.values(), key=lambda o: o.submitted_at)

    async def changed_since(self, specialist_id: str, since) -> list[Assignment]:
        found = [a for a in self._transact.state.assignments.values()
                 if a.specialist_id == specialist_id and a.changed_at >= since]
        return sorted(found, key=lambda a: a.changed_at)


class FakeReviewUnitOfWork(FakeUnitOfWork):
    def __init__(self, state: ReviewState):
        super().__init__(state)
        self.assignments = InMemoryReviewRepository(state)


def review_transact() -> FakeTransact:
    return FakeTransact(ReviewState(), FakeReviewUnitOfWork)


async def _fingerprint(text: str) -> str:
    """sealed.fingerprint's stand-in: keyed as it is (never a plain hash of the text)."""
    return hmac.new(b"a test key", text.encode(), "sha256").hexdigest()


FINGERPRINT = _fingerprint

"""In-memory fakes of intake's ports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from services.intake.domain.case import Case, projected_fields
from services.intake.domain.lifecycle import SYSTEM_STAGES
from services.intake.repository import DuplicateRequest
from tests.fakes.transact import FakeTransact, FakeUnitOfWork


@dataclass
class IntakeState:
    cases: dict[str, Case] = field(default_factory=dict)


def _bookkeeping(case: Case | None) -> Case | None:
    """As the real adapter reads for bookkeeping (casedoc.BOOKKEEPING): without the
    content, the reviewer's requests or the decisions."""
    return None if case is None else dataclasses.replace(case, content=None, info_requests=(),
                                                         prior_auth_decisions=())


class InMemoryCases:
    def __init__(self, state: IntakeState):
        self._state = state

    async def by_request_id(self, tenant_id: str, client_request_id: str, client_request_system: str = ""
                            ) -> Case | None:
        return _bookkeeping(next((c for c in self._state.cases.values()
                                  if (c.tenant_id, c.client_request_id, c.client_request_system)
                                  == (tenant_id, client_request_id, client_request_system)), None))

    async def add(self, case: Case, sealed: object = None) -> None:
        if await self.by_request_id(case.tenant_id, case.client_request_id, case.client_request_system) is not None:
            raise DuplicateRequest(case.client_request_id)
        self._state.cases[case.case_id] = case

    async def get(self, case_id: str) -> Case | None:
        return _bookkeeping(self._state.cases.get(case_id))

    async def save_projection(self, before: Case, after: Case, event_ids: tuple[str, ...]) -> bool:
        """As the real adapter: appends to the stored case and sets the projected fields."""
        current = self._state.cases.get(before.case_id)
        if current is None or current.status != before.status or set(event_ids) & current.seen_event_ids:
            return False
        self._state.cases[after.case_id] = dataclasses.replace(
            current, timeline=(*current.timeline, *after.timeline[len(before.timeline):]),
            seen_event_ids=current.seen_event_ids | after.seen_event_ids, **projected_fields(before, after))
        return True

    async def get_many(self, case_ids: list[str]) -> dict[str, Case]:
        return {i: _bookkeeping(self._state.cases[i]) for i in case_ids if i in self._state.cases}

    async def save_projections(self, writes: list[tuple[Case, Case, tuple[str, ...]]]) -> list[bool]:
        """As the real adapter: True where the events are recorded now."""
        return [await self.save_projection(before, after, event_ids)
                or set(event_ids) <= self._state.cases[before.case_id].seen_event_ids
                for before, after, event_ids in writes]

    async def save_withdrawal(self, before: Case, after: Case, event_id: str, note: str) -> bool:
        """As the real adapter: the projection's guard, then the withdrawal and its note."""
        if not await self.save_projection(before, after, (event_id,)):
            return False
        current = self._state.cases[before.case_id]
        content = current.content and dataclasses.replace(current.content, withdrawal_note=note)
        self._state.cases[before.case_id] = dataclasses.replace(
            current, withdrawal_reason=after.withdrawal_reason, withdrawn_at=after.withdrawn_at,
            withdrawn_by=after.withdrawn_by, content=content)
        return True

    async def attachments_of(self, case_id: str):
        case = self._state.cases.get(case_id)
        return (case.content.attachments, len(case.content.attachments)) if case is not None else ((), None)

    async def save_documents(self, before: Case, after: Case, attachments, event_id: str, count_read) -> bool:
        """As the real adapter: guarded by the status, the event and the records read."""
        current = self._state.cases.get(before.case_id)
        if current is None or len(current.content.attachments) != count_read:
            return False
        if not await self.save_projection(before, after, (event_id,)):
            return False
        current = self._state.cases[before.case_id]
        self._state.cases[before.case_id] = dataclasses.replace(
            current, content=dataclasses.replace(current.content, attachments=tuple(attachments)))
        return True

    async def add_info_request(self, case: Case, request) -> bool:
        """As the real adapter: once per request id, whatever the case read said."""
        current = self._state.cases.get(case.case_id)
        if current is None or any(r.request_id == request.request_id for r in current.info_requests):
            return False
        self._state.cases[case.case_id] = dataclasses.replace(current, info_requests=(*current.info_requests, request))
        return True

    async def add_prior_auth_decision(self, case: Case, decision) -> bool:
        """As the real adapter: once per decision id, and only onto the decisions it was read with."""
        current = self._state.cases.get(case.case_id)
        if current is None or len(current.prior_auth_decisions) != len(case.prior_auth_decisions) or any(
                d.decision_id == decision.decision_id for d in current.prior_auth_decisions):
            return False
        self._state.cases[case.case_id] = dataclasses.replace(
            current, prior_auth_decisions=(*current.prior_auth_decisions, decision))
        return True

    async def save_redrive(self, before: Case, after: Case) -> bool:
        current = self._state.cases.get(before.case_id)
        if current is None or (current.redrives, current.status) != (before.redrives, before.status):
            return False
        self._state.cases[after.case_id] = dataclasses.replace(current, redrives=after.redrives,
                                                               next_redrive_at=after.next_redrive_at)
        return True


class InMemoryCaseReader:
    """The read side, over whatever the fake transact has committed."""

    def __init__(self, transact: FakeTransact):
        self._transact = transact

    async def seal(self, case: Case) -> None:
        return None  # nothing to seal in memory

    async def request_digest(self, fingerprint: str) -> str:
        return f"keyed:{fingerprint}"  # as the real one, never the fingerprint itself

    async def get_for_tenant(self, case_id: str, *tenant_ids: str) -> Case | None:
        case = self._transact.state.cases.get(case_id)
        return case if case is not None and case.tenant_id in tenant_ids else None

    async def get_any(self, case_id: str) -> Case | None:
        return self._transact.state.cases.get(case_id)

    async def status_for_tenant(self, case_id: str, *tenant_ids: str) -> Case | None:
        return _bookkeeping(await self.get_for_tenant(case_id, *tenant_ids))

    async def list_cases(self, query, limit: int) -> list[Case]:
        """As the real adapter: newest first by (submitted_at, case_id), strictly after the cursor."""
        def matches(c: Case) -> bool:
            q = query
            return (c.tenant_id in q.tenants and (not q.statuses or c.status in q.statuses)
                    and (not q.kinds or c.kind in q.kinds) and (not q.urgencies or c.urgency in q.urgencies)
                    and (q.submitted_after is None or c.submitted_at >= q.submitted_after)
                    and (q.submitted_before is None or c.submitted_at < q.submitted_before)
                    and (q.after is None or (c.submitted_at, c.case_id) < (q.after.submitted_at, q.after.case_id))
                    and (q.patient is None or q.patient in c.content.patient.mrns))
        found = sorted((c for c in self._transact.state.cases.values() if matches(c)),
                       key=lambda c: (c.submitted_at, c.case_id), reverse=True)[:limit]
        return found if query.full else [_bookkeeping(c) for c in found]

    async def by_request_id(self, tenant_id: str, client_request_id: str, client_request_system: str = ""
                            ) -> Case | None:
        return await InMemoryCases(self._transact.state).by_request_id(tenant_id, client_request_id,
                                                                       client_request_system)

    async def prior_auth_requests(self, tenant_id: str, identifier: str, member_id: str) -> list[Case]:
        found = [c for c in self._transact.state.cases.values() if c.tenant_id == tenant_id and c.content
                 and c.content.prior_auth and c.content.prior_auth.member_id == member_id
                 and identifier in (c.content.prior_auth.claim_identifier, c.content.prior_auth.submission_id)]
        return sorted(found, key=lambda c: (c.submitted_at, c.case_id))

    async def due_for_redrive(self, now: datetime, limit: int) -> list[Case]:
        due = [c for c in self._transact.state.cases.values()
               if c.next_redrive_at is not None and c.next_redrive_at <= now and c.status in SYSTEM_STAGES]
        return [_bookkeeping(c) for c in due[:limit]]


class FakeIntakeUnitOfWork(FakeUnitOfWork):
    def __init__(self, state: IntakeState):
        super().__init__(state)
        self.cases = InMemoryCases(state)


def intake_transact() -> FakeTransact:
    return FakeTransact(IntakeState(), FakeIntakeUnitOfWork)


class RecordedAccesses:
    """The audit trail, as a list of the accesses recorded."""

    def __init__(self):
        self.accesses: list = []

    async def record(self, access) -> None:
        self.accesses.append(access)

    async def record_once(self, access) -> None:
        if not any((a.case_id, a.tenant_id, a.method) == (access.case_id, access.tenant_id, access.method)
                   for a in self.accesses):
            self.accesses.append(access)

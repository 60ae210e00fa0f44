"""intake's MongoDB adapter: cases, with their status projection and timeline.

`CaseRepository` (inside a unit of work) and `CaseReader` (reads outside any
transaction) are the ports the use cases are written against.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from secondlook.logging import get_logger
from secondlook.phi import PhiCipher
from secondlook.store import UnitOfWork
from secondlook.v1.case_pb2 import CaseKind, Urgency

from .casedoc import (
    BOOKKEEPING,
    decision_doc,
    entry_doc,
    from_doc,
    info_request_doc,
    lookup_docs,
    mrn_key,
    opened_attachments,
    prior_auth_key,
    request_digest,
    sealed_attachments,
    to_doc,
    withdrawal_fields,
)
from .domain.case import ANNOUNCING, Case, InfoRequest, projected_fields
from .domain.content import Attachment
from .domain.lifecycle import SYSTEM_STAGES
from .domain.listing import CaseQuery
from .domain.priorauth import Decision
from .domain.priorauth_report import DecidedRequest, outcome_of

CASES = "cases"
PATIENT_LOOKUPS = "patient_lookups"  # a case's MRNs, sealed for equality lookups (casedoc.lookup_docs)
MAX_CASES_PER_PATIENT = 1000  # a lookup reads at most this many of a patient's cases
MAX_SAME_REQUESTS = 20  # prior authorizations read for one trace number and member ($inquire)


log = get_logger(__name__)
INDEX_NOT_FOUND = 27  # MongoDB's IndexNotFound


class DuplicateRequest(Exception):
    """A case with this client_request_id (of its system) exists in the tenant (a concurrent submit won)."""


def _key(tenant_id: str, client_request_id: str, client_request_system: str) -> dict:
    """The filter of a case's idempotency key. A key without a system is stored without
    the field (as every case from before it existed), which the index and the filter
    both read as null."""
    return {"tenant_id": tenant_id, "client_request_id": client_request_id,
            "client_request_system": client_request_system or None}


class CaseRepository(Protocol):
    async def by_request_id(self, tenant_id: str, client_request_id: str, client_request_system: str = ""
                            ) -> Case | None: ...
    async def add(self, case: Case, sealed: object = None) -> None: ...
    async def get(self, case_id: str) -> Case | None: ...
    async def get_many(self, case_ids: list[str]) -> dict[str, Case]: ...
    async def save_projection(self, before: Case, after: Case, event_ids: tuple[str, ...]) -> bool: ...
    async def save_projections(self, writes: list[tuple[Case, Case, tuple[str, ...]]]) -> list[bool]: ...
    async def save_redrive(self, before: Case, after: Case) -> bool: ...
    async def save_withdrawal(self, before: Case, after: Case, event_id: str, note: str) -> bool: ...
    async def attachments_of(self, case_id: str) -> tuple[tuple[Attachment, ...], int | None]: ...
    async def save_documents(self, before: Case, after: Case, attachments: tuple[Attachment, ...], event_id: str,
                             count_read: int | None) -> bool: ...
    async def add_info_request(self, case: Case, request: InfoRequest) -> bool: ...
    async def add_prior_auth_decision(self, case: Case, decision: Decision) -> bool: ...


class CaseReader(Protocol):
    async def seal(self, case: Case) -> object:
        """A new case made ready for `add` outside any transaction (its PHI sealed)."""
    async def get_for_tenant(self, case_id: str, *tenant_ids: str) -> Case | None: ...
    async def get_any(self, case_id: str) -> Case | None: ...
    async def status_for_tenant(self, case_id: str, *tenant_ids: str) -> Case | None: ...
    async def list_cases(self, query: CaseQuery, limit: int) -> list[Case]: ...
    async def by_request_id(self, tenant_id: str, client_request_id: str, client_request_system: str = ""
                            ) -> Case | None: ...
    async def request_digest(self, fingerprint: str) -> str:
        """What a case keeps of its request's content (`fingerprint`, as validation made
        it) to know a repeat of its key: casedoc.request_digest."""
    async def due_for_redrive(self, now: datetime, limit: int) -> list[Case]: ...
    async def prior_auth_requests(self, tenant_id: str, identifier: str, member_id: str) -> list[Case]: ...


async def ensure_indexes(db: AsyncDatabase) -> None:
    # A request's key is its id within the system that assigned it: two order placers'
    # equal numbers are two requests. (The index before it, on the id alone, is dropped
    # once this one is there: it would refuse the second.)
    await db[CASES].create_index(
        [("tenant_id", ASCENDING), ("client_request_id", ASCENDING), ("client_request_system", ASCENDING)],
        unique=True, name="idempotency_key_by_system")
    if "idempotency_key" in await db[CASES].index_information():
        try:
            await db[CASES].drop_index("idempotency_key")
        except OperationFailure as exc:
            if exc.code != INDEX_NOT_FOUND:  # else another replica starting dropped it first
                log.error("old_idempotency_index_not_dropped", error=str(exc)[:200],
                          consequence="a second system's equal request id is refused as a reused key")
    await db[CASES].create_index([("next_redrive_at", ASCENDING)], name="sweeper")
    # ListCases: a tenant's cases, newest first.
    await db[CASES].create_index([("tenant_id", ASCENDING), ("submitted_at", DESCENDING)], name="listing")
    # The MRN lookups live in a collection of their own, written once: an index on the
    # cases themselves would cost every projection's update (the embedded store
    # rewrites every index entry of a document it updates: README, Benchmark).
    await db[PATIENT_LOOKUPS].create_index([("lookup", ASCENDING)], name="lookup")


class MongoCaseRepository:
    """Inside a unit of work (`session`), or alone for guarded single-document writes.
    It writes a case's content sealed (casedoc.py) and reads cases for bookkeeping:
    without their content, which the projection and the sweeper never need."""

    def __init__(self, db: AsyncDatabase, cipher: PhiCipher, session=None, insert_later=None):
        self._db = db
        self._cipher = cipher
        self._insert_later = insert_later
        self._session = session

    async def by_request_id(self, tenant_id: str, client_request_id: str, client_request_system: str = ""
                            ) -> Case | None:
        doc = await self._db[CASES].find_one(_key(tenant_id, client_request_id, client_request_system),
                                             BOOKKEEPING, session=self._session)
        return await from_doc(doc, self._cipher) if doc else None

    async def add(self, case: Case, sealed: SealedCase | None = None) -> None:
        """Inserts the new case and its patient lookups (`sealed`: as `seal_case` made
        them beforehand): with the transaction's other new cases, in one request each,
        when it is part of a unit of work (`insert_later`); a reused key is DuplicateRequest."""
        doc, lookups = sealed or await seal_case(case, self._cipher)
        duplicate = DuplicateRequest(case.client_request_id)
        if self._insert_later is not None:
            self._insert_later(CASES, doc, duplicate)
            for lookup in lookups:
                self._insert_later(PATIENT_LOOKUPS, lookup, duplicate)
            return
        try:
            await self._db[CASES].insert_one(doc, session=self._session)
        except DuplicateKeyError:
            raise duplicate from None
        if lookups:
            await self._db[PATIENT_LOOKUPS].insert_many(lookups, session=self._session)

    async def get(self, case_id: str) -> Case | None:
        doc = await self._db[CASES].find_one({"_id": case_id}, BOOKKEEPING, session=self._session)
        return await from_doc(doc, self._cipher) if doc else None

    async def get_many(self, case_ids: list[str]) -> dict[str, Case]:
        docs = await self._db[CASES].find({"_id": {"$in": case_ids}}, BOOKKEEPING, session=self._session).to_list()
        return {d["_id"]: await from_doc(d, self._cipher) for d in docs}

    async def save_projection(self, before: Case, after: Case, event_ids: tuple[str, ...]) -> bool:
        """Records the events: appends the new timeline entries and sets what moved,
        in one write guarded by the status `before` was read with and by none of the
        events being recorded yet. False when either changed (re-read and decide again).
        What it sets follows from the status and the event (`projected_fields`:
        a status change sets all of the stage's bookkeeping, over a redrive
        recorded meanwhile), so the status is the whole guard; concurrent appends
        to the timeline both land."""
        write = _projection_write(before, after, event_ids)
        if write is None:
            return True
        result = await self._db[CASES].update_one(*write, session=self._session)
        return result.matched_count == 1

    async def save_projections(self, writes: list[tuple[Case, Case, tuple[str, ...]]]) -> list[bool]:
        """`save_projection` for several cases, in one request; per case whether its
        events are recorded now (when a guard refused, one more read tells which:
        events recorded by a concurrent writer count as saved)."""
        ops = [_projection_write(before, after, event_ids) for before, after, event_ids in writes]
        todo = [UpdateOne(*op) for op in ops if op is not None]
        if not todo:
            return [True] * len(writes)
        result = await self._db[CASES].bulk_write(todo, ordered=False, session=self._session)
        if result.matched_count == len(todo):
            return [True] * len(writes)
        # Some guard failed: the cases that recorded their event are the ones saved.
        seen = {d["_id"]: set(d.get("seen_event_ids", ())) for d in await self._db[CASES].find(
            {"_id": {"$in": sorted({before.case_id for before, _, _ in writes})}}, {"seen_event_ids": 1},
            session=self._session).to_list()}
        return [op is None or set(event_ids) <= seen.get(before.case_id, set())
                for op, (before, _, event_ids) in zip(ops, writes, strict=True)]

    async def save_withdrawal(self, before: Case, after: Case, event_id: str, note: str) -> bool:
        """Records the withdrawal (its entry, status, reason, and the note sealed) if the
        case did not move since `before` was read (the projection's guard)."""
        filters, update = _projection_write(before, after, (event_id,))
        update["$set"] = {**update.get("$set", {}), **withdrawal_fields(after),
                          "withdrawal_note": await self._cipher.seal(note)}
        result = await self._db[CASES].update_one(filters, update, session=self._session)
        return result.matched_count == 1

    async def attachments_of(self, case_id: str) -> tuple[tuple[Attachment, ...], int | None]:
        """The case's records, opened, and the count stored beside them (None for a
        case written before the count was kept): what `save_documents` is guarded by."""
        doc = await self._db[CASES].find_one({"_id": case_id}, {"attachments": 1, "attachments_count": 1},
                                             session=self._session)
        if doc is None:
            return (), None
        return await opened_attachments(doc, self._cipher), doc.get("attachments_count")

    async def save_documents(self, before: Case, after: Case, attachments: tuple[Attachment, ...], event_id: str,
                             count_read: int | None) -> bool:
        """Records the addition (its timeline entry and every record sealed again) if
        neither the status nor the records changed since they were read."""
        filters, update = _projection_write(before, after, (event_id,))
        filters["attachments_count"] = count_read  # None matches a case without the count
        update["$set"] = {**update.get("$set", {}), **await sealed_attachments(attachments, self._cipher)}
        result = await self._db[CASES].update_one(filters, update, session=self._session)
        return result.matched_count == 1

    async def add_prior_auth_decision(self, case: Case, decision: Decision) -> bool:
        """Keeps the decision with the case unless it is there already, and only while the
        case has no more than it was read with (one guarded write); True when kept now."""
        result = await self._db[CASES].update_one(
            {"_id": case.case_id, "prior_auth_decision_ids": {"$ne": decision.decision_id},
             f"prior_auth_decisions.{len(case.prior_auth_decisions)}": {"$exists": False}},
            {"$push": {"prior_auth_decisions": await decision_doc(decision, self._cipher),
                       "prior_auth_decision_ids": decision.decision_id}},
            session=self._session)
        return result.modified_count == 1

    async def add_info_request(self, case: Case, request: InfoRequest) -> bool:
        """Keeps the reviewer's request with the case unless it is there already (one
        guarded write: the request's id among the case's is the guard); True when kept now."""
        result = await self._db[CASES].update_one(
            {"_id": case.case_id, "info_request_ids": {"$ne": request.request_id}},
            {"$push": {"info_requests": await info_request_doc(request, self._cipher),
                       "info_request_ids": request.request_id}},
            session=self._session,
        )
        return result.modified_count == 1

    async def save_redrive(self, before: Case, after: Case) -> bool:
        """Records a redrive if nobody moved the case (or re-drove it) since `before` was read."""
        result = await self._db[CASES].update_one(
            {"_id": before.case_id, "redrives": before.redrives, "status": before.status},
            {"$set": {"redrives": after.redrives, "next_redrive_at": after.next_redrive_at}},
            session=self._session,
        )
        return result.modified_count == 1


def _projection_write(before: Case, after: Case, event_ids: tuple[str, ...]) -> tuple[dict, dict] | None:
    """The guarded update (filter, update) that records a projection, or None when nothing changes."""
    update: dict = {}
    added = after.timeline[len(before.timeline):]
    if added:
        update["$push"] = {"timeline": {"$each": [entry_doc(e) for e in added]}}
        update["$addToSet"] = {"seen_event_ids": {"$each": sorted(after.seen_event_ids - before.seen_event_ids)}}
    moved = projected_fields(before, after)
    if moved:
        update["$set"] = moved
    if not update:
        return None
    return {"_id": before.case_id, "status": before.status, "seen_event_ids": {"$nin": list(event_ids)}}, update


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _listed(doc: dict, q: CaseQuery) -> bool:
    """The list filters, as the query on the store applies them (for a patient's few cases)."""
    at = doc["submitted_at"]
    return (doc["tenant_id"] in q.tenants and (not q.statuses or doc["status"] in q.statuses)
            and (not q.kinds or doc.get("kind", 1) in q.kinds) and (not q.urgencies or doc["urgency"] in q.urgencies)
            and (q.submitted_after is None or at >= q.submitted_after)
            and (q.submitted_before is None or at < q.submitted_before)
            and (q.after is None or (at, doc["_id"]) < (q.after.submitted_at, q.after.case_id)))


def _of_tenants(case_id: str, tenant_ids: tuple[str, ...]) -> dict:
    return {"_id": case_id, "tenant_id": tenant_ids[0] if len(tenant_ids) == 1 else {"$in": list(tenant_ids)}}


SealedCase = tuple[dict, list[dict]]  # a new case as stored: its document and its patient lookups


async def seal_case(case: Case, cipher: PhiCipher) -> SealedCase:
    return await to_doc(case, cipher), await lookup_docs(case, cipher)


class MongoCaseReader:
    def __init__(self, db: AsyncDatabase, cipher: PhiCipher):
        self._db = db
        self._cipher = cipher

    async def seal(self, case: Case) -> SealedCase:
        return await seal_case(case, self._cipher)

    async def request_digest(self, fingerprint: str) -> str:
        return await request_digest(fingerprint, self._cipher)

    async def get_for_tenant(self, case_id: str, *tenant_ids: str) -> Case | None:
        """The whole case, its content opened, if it belongs to one of the tenants."""
        doc = await self._db[CASES].find_one(_of_tenants(case_id, tenant_ids))
        return await from_doc(doc, self._cipher) if doc else None

    async def get_any(self, case_id: str) -> Case | None:
        """The whole case, its content opened, whoever's it is (for a service that checked why)."""
        doc = await self._db[CASES].find_one({"_id": case_id})
        return await from_doc(doc, self._cipher) if doc else None

    async def status_for_tenant(self, case_id: str, *tenant_ids: str) -> Case | None:
        """The case without its content (status, timeline), if it belongs to one of the tenants."""
        doc = await self._db[CASES].find_one(_of_tenants(case_id, tenant_ids), BOOKKEEPING)
        return await from_doc(doc, self._cipher) if doc else None

    async def by_request_id(self, tenant_id: str, client_request_id: str, client_request_system: str = ""
                            ) -> Case | None:
        doc = await self._db[CASES].find_one(_key(tenant_id, client_request_id, client_request_system), BOOKKEEPING)
        return await from_doc(doc, self._cipher) if doc else None

    async def list_cases(self, query: CaseQuery, limit: int) -> list[Case]:
        """Up to `limit` cases matching the query, newest first, strictly after its cursor."""
        if query.patient is not None:
            return await self._patient_cases(query, limit)
        submitted: dict = {"$gte": query.submitted_after or EPOCH}
        if query.submitted_before:
            submitted["$lt"] = query.submitted_before
        if query.after:
            submitted["$lte"] = query.after.submitted_at
        filters: dict = {"tenant_id": query.tenants[0] if len(query.tenants) == 1 else {"$in": list(query.tenants)},
                         "submitted_at": submitted}
        for field, values in (("status", query.statuses), ("kind", query.kinds), ("urgency", query.urgencies)):
            if values:
                filters[field] = {"$in": list(values)}
        cursor = self._db[CASES].find(filters, None if query.full else BOOKKEEPING) \
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)]).batch_size(limit + 1)
        found: list[Case] = []
        async for doc in cursor:
            # Cases submitted in the cursor's own millisecond sort by id: skip those shown already.
            if query.after and doc["submitted_at"] == query.after.submitted_at and doc["_id"] >= query.after.case_id:
                continue
            found.append(await from_doc(doc, self._cipher))
            if len(found) == limit:
                break
        return found

    async def prior_auth_requests(self, tenant_id: str, identifier: str, member_id: str) -> list[Case]:
        """The tenant's PRIOR_AUTH cases for this member under the submitter's trace number
        (or transaction id), with their content, oldest first (a submitter reuses a trace
        number for one member rarely: the latest few are read)."""
        seal = await self._cipher.seal_lookup(prior_auth_key(tenant_id, identifier, member_id))
        # The latest first ("at", when the case came; lookups from before it have none and come last).
        lookups = self._db[PATIENT_LOOKUPS].find({"lookup": seal}, {"case_id": 1}).sort(
            [("at", DESCENDING), ("_id", DESCENDING)])
        case_ids = [d["case_id"] for d in await lookups.limit(MAX_SAME_REQUESTS).to_list()]
        if not case_ids:
            return []
        docs = await self._db[CASES].find({"_id": {"$in": case_ids}, "tenant_id": tenant_id}).to_list()
        return sorted([await from_doc(d, self._cipher) for d in docs], key=lambda c: (c.submitted_at, c.case_id))

    async def _patient_cases(self, query: CaseQuery, limit: int) -> list[Case]:
        """`list_cases` for one patient: the patient's case ids from the lookups (sealed as
        when the cases were stored: per tenant and assigner), their cases by _id (the
        store's primary-key path; a patient has few), the other filters applied here."""
        system, value = query.patient
        seals = [await self._cipher.seal_lookup(mrn_key(tenant, system, value)) for tenant in query.tenants]
        lookups = self._db[PATIENT_LOOKUPS].find({"lookup": {"$in": seals}}, {"case_id": 1})
        case_ids = sorted({d["case_id"] for d in await lookups.limit(MAX_CASES_PER_PATIENT).to_list()})
        if not case_ids:
            return []
        docs = await self._db[CASES].find({"_id": {"$in": case_ids}}, None if query.full else BOOKKEEPING).to_list()
        docs = sorted((d for d in docs if _listed(d, query)), key=lambda d: (d["submitted_at"], d["_id"]),
                      reverse=True)
        return [await from_doc(d, self._cipher) for d in docs[:limit]]

    async def due_for_redrive(self, now: datetime, limit: int) -> list[Case]:
        """Cases stuck in a stage the system owns: the index makes this cost what is due, not what is open.
        (The lower bound is what lets the embedded store walk the index from the first
        due time instead of from every case without one.)"""
        cursor = self._db[CASES].find(
            {"next_redrive_at": {"$gte": EPOCH, "$lte": now}, "status": {"$in": sorted(SYSTEM_STAGES)}},
            BOOKKEEPING)
        return [await from_doc(d, self._cipher) for d in await cursor.limit(limit).to_list()]


class IntakeUnitOfWork:
    """What intake's use cases see of one transaction."""

    def __init__(self, uow: UnitOfWork, cipher: PhiCipher):
        self.cases: CaseRepository = MongoCaseRepository(uow.db, cipher, uow.session, uow.insert_later)
        self.emit = uow.emit
        self.after_commit = uow.after_commit


async def prior_auth_decided(db: AsyncDatabase, before: datetime) -> list[DecidedRequest]:
    """Every prior authorization received before `before` with a decision, as the
    report reads it: codes and times only (nothing is decrypted)."""
    cursor = db[CASES].find(
        {"kind": CaseKind.CASE_KIND_PRIOR_AUTH, "submitted_at": {"$lt": before},
         "prior_auth_decision_ids.0": {"$exists": True}},
        {"tenant_id": 1, "urgency": 1, "submitted_at": 1, "timeline.event_type": 1, "timeline.ref": 1,
         "timeline.occurred_at": 1, "prior_auth_decisions.decision_id": 1, "prior_auth_decisions.items.action": 1})
    found = []
    async for doc in cursor:
        outcomes = {d["decision_id"]: outcome_of(i["action"] for i in d["items"])
                    for d in doc.get("prior_auth_decisions", ())}
        announced = sorted((e["occurred_at"], outcomes[e["ref"]]) for e in doc.get("timeline", ())
                           if e.get("event_type") in ANNOUNCING and e.get("ref") in outcomes)
        if announced:
            found.append(DecidedRequest(doc["tenant_id"], doc["urgency"] == Urgency.URGENCY_EXPEDITED,
                                        doc["submitted_at"], tuple(announced)))
    return found

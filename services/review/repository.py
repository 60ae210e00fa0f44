"""review's MongoDB adapter: assignments (the inbox) and opinions.

`ReviewRepository` is the port the use cases are written against;
`MongoReviewRepository` implements it inside a unit of work (its session), and
`InboxReader` answers the read-only inbox query outside any transaction.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import EncryptionError, PyMongoError

from secondlook import changes
from secondlook.clock import utcnow
from secondlook.logging import get_logger
from secondlook.phi import PhiCipher
from secondlook.store import UnitOfWork, insert_once
from secondlook.v1.review_pb2 import AssignmentState

from .domain.assignment import STAMPS, Assignment, sla_next_at
from .domain.inbox import InboxPage
from .domain.opinion import FORWARD_DIAGNOSIS, FORWARD_TREATMENT, Assessment, OpinionRecord
from .domain.priorauth import Requested
from .domain.sla import SlaClock
from .sealed import opened, sealed_assessment, sealed_decline, sealed_opinion

log = get_logger(__name__)

ASSIGNMENTS = "assignments"
OPINIONS = "opinions"
EPOCH, FAR_FUTURE = datetime(1970, 1, 1), datetime(9999, 1, 1)
HELD = [AssignmentState.ASSIGNMENT_STATE_OFFERED, AssignmentState.ASSIGNMENT_STATE_ACCEPTED, AssignmentState.ASSIGNMENT_STATE_IN_REVIEW,
        AssignmentState.ASSIGNMENT_STATE_NEEDS_INFO]
INBOX_LIMIT = 500  # also the most changes a resumed watch replays (usecases.RESUME_LIMIT)
MIGRATIONS = "migrations"  # one document per one-off migration done (seal_legacy_texts)
SEALED_LEGACY_TEXTS = "sealed-legacy-texts"


class ReviewRepository(Protocol):
    async def add_offer(self, assignment: Assignment) -> bool: ...
    async def add_offers(self, assignments: list[Assignment]) -> list[bool]: ...
    async def get_for_specialist(self, assignment_id: str, specialist_id: str) -> Assignment | None: ...
    async def save_move(self, before: Assignment, after: Assignment) -> bool: ...
    async def get_many(self, assignment_ids: list[str]) -> list[Assignment]: ...
    async def waiting_for_records(self, case_id: str) -> list[Assignment]: ...
    async def add_opinion(self, opinion: OpinionRecord) -> None: ...
    async def opinions_of(self, assignment_id: str) -> list[OpinionRecord]: ...


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[ASSIGNMENTS].create_index([("specialist_id", 1), ("state", 1)])
    await db[ASSIGNMENTS].create_index([("specialist_id", 1), ("changed_at", 1)])
    await db[ASSIGNMENTS].create_index([("case_id", 1), ("state", 1)])  # a case's assignments waiting on records
    # SLA alarms pending (reminders, breaches): re-armed from here at start. Only a running
    # clock has a time, so the range read below finds those alone.
    await db[ASSIGNMENTS].create_index([("sla_next_at", 1)], name="sla_alarms")
    # One document per signed version: two amendments at once cannot both be version n+1.
    await db[OPINIONS].create_index([("assignment_id", 1), ("version", 1)], unique=True, name="opinion_versions")
    await db[OPINIONS].create_index([("case_id", 1)])  # a panel's opinions


async def _doc(a: Assignment, cipher: PhiCipher) -> dict:
    """The assignment as stored, what the reviewer wrote sealed (sealed.py)."""
    return {
        "_id": a.assignment_id, "case_id": a.case_id, "tenant_id": a.tenant_id, "specialist_id": a.specialist_id,
        "specialty": a.specialty, "state": a.state, "diagnosis_code": a.diagnosis_code, "urgency": a.urgency,
        "offered_at": a.offered_at, "respond_by": a.respond_by, "traceparent": a.traceparent, **a.stamps,
        "version": a.version, "changed_at": a.changed_at or a.offered_at, **await sealed_decline(a, cipher),
        "blind_review": a.blind_review, **await sealed_assessment(a.assessment, cipher), **_info_request(a),
        "records": a.records,
        **_sla(a), **_panel(a), **_prior_auth(a),
    }


def _prior_auth(a: Assignment) -> dict:
    if not a.prior_auth:
        return {}
    return {"kind": a.kind, "received_at": a.received_at, "decisions_made": a.decisions_made,
            "decision_id": a.decision_id,
            "requested": [{"key": r.key, "system": r.system, "code": r.code, "quantity": r.quantity,
                           "qualified": list(r.qualified)} for r in a.requested]}


def _decided(a: Assignment) -> dict:
    """A prior authorization's decisions so far (a move records them)."""
    return {"decisions_made": a.decisions_made, "decision_id": a.decision_id} if a.prior_auth else {}


def _panel(a: Assignment) -> dict:
    if not a.panel_size and not a.adjudicates:
        return {}
    return {"panel_size": a.panel_size, "adjudicates": a.adjudicates, "panel_opinion_ids": list(a.panel_opinion_ids)}


def _info_request(a: Assignment) -> dict:
    if not a.info_request_id:
        return {}
    return {"info_request_id": a.info_request_id, "info_questions": a.info_questions,
            "info_requests_made": a.info_requests_made}


def _sla(a: Assignment) -> dict:
    """The clock, and when it next falls due (None: nothing pending)."""
    if a.sla is None:
        return {}
    c = a.sla
    return {"sla": {"budget_seconds": c.budget_seconds, "reminder_fractions": list(c.reminder_fractions),
                    "started_at": c.started_at, "used_seconds": c.used_seconds, "running_since": c.running_since,
                    "reminders_sent": c.reminders_sent, "breached_at": c.breached_at, "stopped_at": c.stopped_at},
            "sla_next_at": sla_next_at(a)}


def _clock(doc: dict | None) -> SlaClock | None:
    if not doc:
        return None
    return SlaClock(budget_seconds=doc["budget_seconds"], reminder_fractions=tuple(doc["reminder_fractions"]),
                    started_at=doc["started_at"], used_seconds=doc["used_seconds"],
                    running_since=doc.get("running_since"), reminders_sent=doc.get("reminders_sent", 0),
                    breached_at=doc.get("breached_at"), stopped_at=doc.get("stopped_at"))


def _assessment(doc: dict | None) -> Assessment | None:
    if not doc:
        return None
    return Assessment(diagnosis_code=doc["diagnosis_code"], procedures=tuple(tuple(p) for p in doc["procedures"]),
                      treatment=doc["treatment"], recorded_at=doc["recorded_at"])


def _decline(a: Assignment) -> dict:
    return {"decline_reason": a.decline_reason, "decline_note": a.decline_note} if a.decline_reason else {}


async def _assignment_of(doc: dict, cipher: PhiCipher) -> Assignment:
    return _assignment(await opened(doc, cipher))


async def _opinion_of(doc: dict, cipher: PhiCipher) -> OpinionRecord:
    return _opinion(await opened(doc, cipher))


def _assignment(doc: dict) -> Assignment:
    return Assignment(
        assignment_id=doc["_id"], case_id=doc["case_id"], tenant_id=doc["tenant_id"],
        specialist_id=doc["specialist_id"], specialty=doc["specialty"], state=doc["state"],
        diagnosis_code=doc["diagnosis_code"], urgency=doc["urgency"], offered_at=doc["offered_at"],
        respond_by=doc["respond_by"], traceparent=doc.get("traceparent", ""),
        stamps={k: doc[k] for k in STAMPS if k in doc},
        version=doc.get("version", 1), changed_at=doc.get("changed_at", doc["offered_at"]),
        decline_reason=doc.get("decline_reason", 0), decline_note=doc.get("decline_note", ""),
        blind_review=doc.get("blind_review", False), assessment=_assessment(doc.get("assessment")),
        info_request_id=doc.get("info_request_id", ""), info_questions=doc.get("info_questions", 0),
        info_requests_made=doc.get("info_requests_made", 0), records=doc.get("records", 0),
        sla=_clock(doc.get("sla")), panel_size=doc.get("panel_size", 0), adjudicates=doc.get("adjudicates", False),
        panel_opinion_ids=tuple(doc.get("panel_opinion_ids", ())), kind=doc.get("kind", 1),
        requested=tuple(Requested(r["key"], r["system"], r["code"], r["quantity"], tuple(r["qualified"]))
                        for r in doc.get("requested", ())),
        received_at=doc.get("received_at"), decisions_made=doc.get("decisions_made", 0),
        decision_id=doc.get("decision_id", ""),
    )


class MongoReviewRepository:
    """Inside a unit of work (`session`), or alone for guarded single-document writes."""

    def __init__(self, db: AsyncDatabase, cipher: PhiCipher, session=None):
        self._db = db
        self._cipher = cipher
        self._session = session

    async def add_offer(self, assignment: Assignment) -> bool:
        """Inserts the offer unless it is there already; True when it was inserted now."""
        return (await self.add_offers([assignment]))[0]

    async def add_offers(self, assignments: list[Assignment]) -> list[bool]:
        """`add_offer` for several, in one request."""
        return await insert_once(self._db[ASSIGNMENTS], [await _doc(a, self._cipher) for a in assignments], self._session)

    async def get_for_specialist(self, assignment_id: str, specialist_id: str) -> Assignment | None:
        doc = await self._db[ASSIGNMENTS].find_one({"_id": assignment_id, "specialist_id": specialist_id},
                                                    session=self._session)
        return await _assignment_of(doc, self._cipher) if doc else None

    async def get_many(self, assignment_ids: list[str]) -> list[Assignment]:
        cursor = self._db[ASSIGNMENTS].find({"_id": {"$in": assignment_ids}}, session=self._session)
        return [await _assignment_of(d, self._cipher) async for d in cursor]

    async def save_move(self, before: Assignment, after: Assignment) -> bool:
        """Records `after` if the assignment is still the version `before` was read at;
        False when it changed meanwhile. (A guarded update, not findAndModify: the
        embedded store scans the whole collection for findAndModify's write.)"""
        changed = {"state": after.state, "changed_at": after.changed_at, **_info_request(after), **_sla(after),
                   "records": after.records, **_decided(after),
                   **{k: v for k, v in after.stamps.items() if before.stamps.get(k) != v}}
        # Sealed anew only when they change: a move that keeps them leaves them as they are.
        if _decline(after) != _decline(before):
            changed.update(await sealed_decline(after, self._cipher))
        if after.assessment != before.assessment:
            changed.update(await sealed_assessment(after.assessment, self._cipher))
        result = await self._db[ASSIGNMENTS].update_one(
            {"_id": before.assignment_id, "specialist_id": before.specialist_id, "version": before.version},
            {"$set": changed, "$inc": {"version": after.version - before.version}},
            session=self._session,
        )
        return result.modified_count == 1

    async def waiting_for_records(self, case_id: str) -> list[Assignment]:
        """The case's assignments that records added may move on: held by a reviewer
        (waiting on the submitter, or with a clock that waits for the first records)."""
        cursor = self._db[ASSIGNMENTS].find({"case_id": case_id, "state": {"$in": HELD}}, session=self._session)
        return [await _assignment_of(d, self._cipher) async for d in cursor]

    async def add_opinion(self, opinion: OpinionRecord) -> None:
        """Signs a version (DuplicateKeyError when that version of the opinion exists)."""
        await self._db[OPINIONS].insert_one(await _opinion_doc(opinion, self._cipher), session=self._session)

    async def opinions_of(self, assignment_id: str) -> list[OpinionRecord]:
        return await opinions_of(self._db, self._cipher, assignment_id, self._session)


async def opinions_of(db: AsyncDatabase, cipher: PhiCipher, assignment_id: str, session=None) -> list[OpinionRecord]:
    """Every signed version of the assignment's opinion, the first first."""
    docs = await db[OPINIONS].find({"assignment_id": assignment_id}, session=session).to_list()
    return sorted([await _opinion_of(d, cipher) for d in docs], key=lambda o: o.version)


async def _opinion_doc(o: OpinionRecord, cipher: PhiCipher) -> dict:
    return {"_id": o.opinion_id, "assignment_id": o.assignment_id, "case_id": o.case_id,
            "specialist_id": o.specialist_id, "version": o.version, "diagnosis": o.diagnosis,
            "reviewer_diagnosis_code": o.reviewer_diagnosis_code, "treatment": o.treatment,
            "confidence": o.confidence, "attested": True, "submitted_at": o.submitted_at, "blind": o.blind,
            **await sealed_opinion(o, cipher)}


def _opinion(d: dict) -> OpinionRecord:
    # Opinions signed before versions and the structured model: version 1, concordances read forward.
    return OpinionRecord(
        opinion_id=d["_id"], assignment_id=d["assignment_id"], case_id=d["case_id"],
        specialist_id=d["specialist_id"], version=d.get("version", 1),
        diagnosis=d.get("diagnosis") or FORWARD_DIAGNOSIS.get(d.get("diagnosis_concordance"), 0),
        reviewer_diagnosis_code=d.get("reviewer_diagnosis_code", ""),
        treatment=d.get("treatment") or FORWARD_TREATMENT.get(d.get("treatment_concordance"), 0),
        procedures=tuple(tuple(p) for p in d.get("procedures", ())), recommendation=d.get("recommendation", ""),
        narrative=d.get("narrative", ""), further_tests=tuple(d.get("further_tests", ())),
        patient_summary=d.get("patient_summary", ""), confidence=d.get("confidence", 0),
        submitted_at=d["submitted_at"], amendment_reason=d.get("amendment_reason", ""),
        blind=d.get("blind", False), assessment=_assessment(d.get("assessment")),
    )


class InboxReader:
    """The read side: a specialist's inbox, read without a transaction."""

    def __init__(self, db: AsyncDatabase, cipher: PhiCipher):
        self._db = db
        self._cipher = cipher

    async def sla_alarms(self) -> list[tuple[str, datetime]]:
        """Every pending SLA alarm (assignment id, when), read by its index (a range with
        both ends: the embedded store walks an index from its start without a lower one)."""
        docs = self._db[ASSIGNMENTS].find({"sla_next_at": {"$gte": EPOCH, "$lte": FAR_FUTURE}},
                                          {"sla_next_at": True}).hint("sla_alarms")
        return [(d["_id"], d["sla_next_at"]) async for d in docs]

    async def changed_since(self, specialist_id: str, since: datetime) -> list[Assignment]:
        """The specialist's assignments changed at or after `since`, oldest change first."""
        docs = await self._db[ASSIGNMENTS].find({"specialist_id": specialist_id, "changed_at": {"$gte": since}}) \
            .sort("changed_at", 1).limit(INBOX_LIMIT).to_list()
        return [await _assignment_of(d, self._cipher) for d in docs]

    async def get_for_specialist(self, assignment_id: str, specialist_id: str) -> Assignment | None:
        return await MongoReviewRepository(self._db, self._cipher).get_for_specialist(assignment_id, specialist_id)

    async def opinions_of(self, assignment_id: str) -> list[OpinionRecord]:
        return await opinions_of(self._db, self._cipher, assignment_id)

    async def panel_opinions(self, assignment: Assignment) -> list[OpinionRecord]:
        """The panel's other members' signed opinions, the latest version of each: for
        an adjudicator the ones it weighs; for a member, everyone else's."""
        if assignment.adjudicates:
            found = {"_id": {"$in": list(assignment.panel_opinion_ids)}}
        else:
            found = {"case_id": assignment.case_id}
        # The adjudicator weighs the versions the panel was concluded on (an amendment
        # made since did not count in the verdict).
        opinions = [await _opinion_of(d, self._cipher) for d in await self._db[OPINIONS].find(found).to_list()]
        latest: dict[str, OpinionRecord] = {}
        for o in opinions:
            if o.assignment_id != assignment.assignment_id and o.version >= latest.get(o.assignment_id, o).version:
                latest[o.assignment_id] = o
        return sorted(latest.values(), key=lambda o: o.submitted_at)

    async def page_for_specialist(self, specialist_id: str, query: InboxPage, limit: int) -> list[Assignment]:
        """Up to `limit` of the specialist's assignments after `query.after`, by offer time then id."""
        found: dict = {"specialist_id": specialist_id}
        if query.states:
            found["state"] = {"$in": list(query.states)}
        if query.urgency:
            found["urgency"] = query.urgency
        if query.after is not None:
            found["offered_at"] = {"$gte": query.after[0]}  # ties at that instant are skipped below: no top-level $or
        # No limit: the ties skipped must not shorten the page (the cursor is read in
        # batches, and left once the page is full).
        cursor = self._db[ASSIGNMENTS].find(found).sort([("offered_at", 1), ("_id", 1)]).batch_size(limit + 8)
        page = []
        async for doc in cursor:
            a = await _assignment_of(doc, self._cipher)
            if query.after is None or (a.offered_at, a.assignment_id) > query.after:
                page.append(a)
            if len(page) == limit:
                break
        await cursor.close()
        return page

    async def list_for_specialist(self, specialist_id: str, states: list[int]) -> list[Assignment]:
        query: dict = {"specialist_id": specialist_id}
        if states:
            query["state"] = {"$in": states}
        docs = await self._db[ASSIGNMENTS].find(query).sort("offered_at", 1).limit(INBOX_LIMIT).to_list()
        return [await _assignment_of(d, self._cipher) for d in docs]


async def follow_changes(db: AsyncDatabase, cipher: PhiCipher, publish: Callable[[Assignment], None],
                         on_gap: Callable[[], None]) -> None:
    """Passes on every assignment change committed by any replica, until cancelled.
    A change that cannot be opened now (the KMS away when the data key must be fetched
    again) counts as a gap: the watchers end, and their clients read from the store."""
    async def on_change(change: dict) -> None:
        doc = change.get("fullDocument")
        if doc is None:
            return
        try:
            assignment = await _assignment_of(doc, cipher)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the watchers must look again
            # The KMS or the store away is a moment's outage; anything else is a bug,
            # reported by where it happened (the message might quote the document).
            expected = exc.timeout if isinstance(exc, EncryptionError) else isinstance(exc, PyMongoError)
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            (log.warning if expected else log.error)("assignment_change_unopened", assignment_id=doc.get("_id"),
                                                     error=exc.__class__.__name__,
                                                     where=f"{Path(frame.filename).name}:{frame.lineno}")
            on_gap()
            return
        publish(assignment)

    await changes.follow_changes(db[ASSIGNMENTS], on_change, full_document=True, on_gap=on_gap)


# Documents holding what reviewers wrote in clear: from before sealing, or of the first
# sealed shape (an assessment's treatment sealed alone, display names in clear).
LEGACY = {
    OPINIONS: {"$or": [{"texts": {"$exists": False}}, {"procedures.0.2": {"$exists": True}},
                       {"assessment.treatment": {"$exists": True}}]},
    ASSIGNMENTS: {"$or": [{"decline_note": {"$type": "string", "$ne": ""}},
                          {"assessment.treatment": {"$exists": True}}]},
}


async def seal_legacy_texts(db: AsyncDatabase, cipher: PhiCipher, once: bool = True) -> tuple[int, int]:
    """Seals what earlier versions wrote in clear; (documents sealed, documents left).
    `once` (at start): not again after a pass that left nothing, which a marker records,
    so later starts read one document. Pods of an earlier version still running then
    (a rolling update) write in clear meanwhile: `secondlook review seal-texts` runs it
    again, whatever the marker says. A document that moves meanwhile, or cannot be
    read, is left for the next pass (logged by id)."""
    if once and await db[MIGRATIONS].find_one({"_id": SEALED_LEGACY_TEXTS}) is not None:
        return 0, 0
    sealed = left = 0
    for name, query in LEGACY.items():
        async for doc in db[name].find(query):
            try:
                opened_doc = await opened(doc, cipher)
                if name == OPINIONS:
                    result = await db[OPINIONS].replace_one(
                        {"_id": doc["_id"], **query}, await _opinion_doc(_opinion(opened_doc), cipher))
                else:
                    a = _assignment(opened_doc)
                    result = await db[ASSIGNMENTS].update_one({"_id": a.assignment_id, "version": a.version, **query}, {
                        "$set": {**await sealed_decline(a, cipher), **await sealed_assessment(a.assessment, cipher)}})
            except Exception as exc:  # noqa: BLE001 - one unreadable document must not stop the others
                log.warning("legacy_texts_unsealed", collection=name, document_id=doc["_id"],
                            error=exc.__class__.__name__)
                left += 1
                continue
            sealed += result.modified_count
            # Not written: moved meanwhile (left), or sealed by another pass (not left).
            if not result.modified_count and await db[name].find_one({"_id": doc["_id"], **query}, {"_id": 1}):
                left += 1
    if left:
        log.warning("legacy_texts_left_in_clear", documents=left)
    else:
        await db[MIGRATIONS].update_one({"_id": SEALED_LEGACY_TEXTS}, {"$set": {"done_at": utcnow(), "sealed": sealed}},
                                        upsert=True)
    if sealed:
        log.info("legacy_texts_sealed", documents=sealed)
    return sealed, left


class ReviewUnitOfWork:
    """What review's use cases see of one transaction."""

    def __init__(self, uow: UnitOfWork, cipher: PhiCipher):
        self.assignments: ReviewRepository = MongoReviewRepository(uow.db, cipher, uow.session)
        self.emit = uow.emit
        self.after_commit = uow.after_commit

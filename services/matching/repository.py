"""matching's MongoDB adapter: the specialist directory, with atomic capacity
reservation, and the offers it made.

A specialist's document holds the assignments that hold one of its slots
(`holding`): a reservation takes a slot and records the assignment, a release
gives the slot back only if the assignment still holds it. Both are one
single-document write, so a release needs no transaction and no marker: a
repeat finds the assignment gone and changes nothing.

Candidates are chosen from the directory kept in memory (`DirectoryCache`, an
index: domain/index.py): read whole at start, after a gap in the change stream
and every `ttl_seconds`; kept current by this replica's own commits and, when
following change streams, by every replica's. What it says about free slots is
a hint: the reservation is the store's guarded write (accepting, active, a free
slot), and a case is declared unmatched only after its candidates were read
again."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from secondlook import changes
from secondlook.deadlines import Deadlines
from secondlook.events import decode
from secondlook.logging import get_logger
from secondlook.store import UnitOfWork
from secondlook.v1.case_pb2 import Urgency

from .domain.directory import AlreadyListed, DirectoryQuery, Specialist
from .domain.index import DirectoryIndex
from .domain.matcher import CaseFacts, Service, Weights
from .domain.offers import (
    ACCEPTED,
    AWAITING,
    EXPIRING,
    MAX_SENDS,
    OPEN,
    OPINED,
    RESEND_AFTER,
    REVIEWER,
    WITHDRAWN,
    Decision,
    Offer,
    Waiting,
)
from .specialistdoc import specialist_from_doc, specialist_to_doc

log = get_logger(__name__)

SPECIALISTS = "specialists"
ASSIGNMENTS = "assignments"  # the offers made, each with the facts the case was matched on
UNMATCHED = "unmatched_cases"  # the cases nobody could take, with the facts and the reason
WITHDRAWN_CASES = "withdrawn_cases"  # cases withdrawn: never matched again, whatever arrives late
WAITING = "waiting_cases"  # cases waiting for free slots (usecases.offer_waiting), by case id
WAITING_KEY = "waiting:"  # a waiting case's next try among the deadlines, before its case id
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
AWAITING_ANSWER = {"state": {"$in": list(AWAITING)}}  # offers whose deadline still counts


class MatchingRepository(Protocol):
    async def index(self, refresh: tuple[str, ...] | None = None) -> DirectoryIndex: ...
    async def reserve(self, specialist_id: str, assignment_id: str) -> bool: ...
    async def add_offer(self, offer: Offer, facts: CaseFacts) -> None: ...
    async def close_offer(self, assignment_id: str, state: str) -> Offer | None: ...
    async def offer_accepted(self, assignment_id: str) -> bool: ...
    async def record_opinion(self, assignment_id: str, opinion: tuple) -> bool: ...
    async def records_added(self, case_id: str, count: int) -> None: ...
    async def offers_overdue(self, assignment_ids: list[str], now: datetime) -> list[Offer]: ...
    async def close_offers_of_case(self, case_id: str) -> None: ...
    async def take_back_open_offers(self, specialist_id: str) -> list[Offer]: ...
    async def record_unmatched(self, event_id: str, facts: CaseFacts, reason: str, at: datetime) -> None: ...
    async def decision(self, case_id: str) -> Decision | None: ...
    async def release(self, holds: list[tuple[str, str]], freed: bool = True) -> list[bool | None]: ...
    async def add_waiting(self, waiting: Waiting, next_try_at: datetime) -> None: ...
    async def waiting(self, case_id: str) -> Waiting | None: ...
    async def wait_longer(self, case_id: str, tries: int, next_try_at: datetime) -> None: ...
    async def remove_waiting(self, case_id: str) -> None: ...
    async def oldest_waiting(self, limit: int, could_take: Specialist | None = None) -> list[str]: ...
    async def count_waiting(self) -> int: ...
    async def offers_for_case(self, case_id: str) -> list[tuple[str, str]]: ...
    async def mark_withdrawn(self, case_id: str) -> None: ...
    async def is_withdrawn(self, case_id: str) -> bool: ...
    # The directory's admin side.
    async def specialist(self, specialist_id: str) -> Specialist | None: ...
    async def save_specialist(self, saved: Specialist, previous: Specialist | None) -> bool: ...
    async def list_specialists(self, query: DirectoryQuery, after: str, limit: int,
                               today: date) -> list[Specialist]: ...


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[ASSIGNMENTS].create_index([("case_id", 1)])
    await db[UNMATCHED].create_index([("case_id", 1)])
    await db[WAITING].create_index([("next_try_at", 1)])  # the deadline keeper reloads the next tries by it
    await db[WAITING].create_index([("rank", 1), ("since", 1)])  # a slot that came free goes to the oldest
    # Only offers awaiting an answer are in it (an answer takes the offer out): re-arming
    # the deadlines reads them alone, not every offer ever made.
    await db[ASSIGNMENTS].create_index([("respond_by", 1)], partialFilterExpression=AWAITING_ANSWER,
                                       name="awaiting_answer")
    # Offers recorded before they had a state: open while their deadline is ahead,
    # else taken as answered (matching did not follow answers then).
    await db[ASSIGNMENTS].update_many({"state": {"$exists": False}, "respond_by": {"$gt": datetime.now(timezone.utc)}},
                                      {"$set": {"state": OPEN}})
    await db[ASSIGNMENTS].update_many({"state": {"$exists": False}}, {"$set": {"state": ACCEPTED}})
    # Candidates come from the directory in memory: an index on the specialists'
    # arrays would only make every reservation and release rewrite its entries.
    for collection, index in ((SPECIALISTS, "specialties_1_licensed_in_1"), (ASSIGNMENTS, "open_deadlines")):
        try:  # made by earlier versions
            await db[collection].drop_index(index)
        except OperationFailure as exc:
            if exc.code not in (26, 27):  # NamespaceNotFound, IndexNotFound: nothing to drop
                log.warning("index_not_dropped", index=index, error=str(exc)[:200])


async def seed_if_empty(db: AsyncDatabase, path: Path | None) -> int:
    """Loads the synthetic directory into an empty one (development and demos)."""
    if path is None or await db[SPECIALISTS].estimated_document_count() > 0:
        return 0
    entries = json.loads(Path(path).read_text())
    docs = [{**e, "_id": e["specialist_id"], "free_slots": e["capacity"], "holding": []} for e in entries]
    if docs:
        await db[SPECIALISTS].insert_many(docs)
    return len(docs)


class DirectoryCache:
    """The specialists in memory, indexed (domain/index.py), one process's view; see
    the module's docstring."""

    def __init__(self, db: AsyncDatabase, ttl_seconds: float, weights: Weights | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        # Told when this replica committed what may free a slot (a release, an admin
        # change): cases waiting for one are tried again. Another replica's frees are its
        # own to tell (each waiting case is tried on its own clock too).
        self.on_freed: Callable[[Specialist], None] = lambda s: None
        self._db = db
        self._ttl = ttl_seconds
        self._weights = weights
        self._monotonic = monotonic
        self._index = DirectoryIndex((), weights)
        self._read_at: float | None = None
        self._reading = asyncio.Lock()
        # While the directory is read whole: the changes the stream brings meanwhile,
        # applied to the new index once it is built (the read may have passed them).
        self._buffer: list[dict] | None = None

    def invalidate(self) -> None:
        """Changes may have gone by unseen: the next use reads the whole directory."""
        self._read_at = None

    async def refresh(self, specialist_ids: tuple[str, ...]) -> None:
        """These specialists as the store holds them now (one read by id)."""
        if not specialist_ids:
            return
        index = await self.index()
        async for doc in self._db[SPECIALISTS].find({"_id": {"$in": list(specialist_ids)}}, {"holding": 0}):
            index.put(specialist_from_doc(doc))

    async def follow(self) -> None:
        """Keeps the index current with every replica's commits (the store's change
        stream of the directory: admin changes and reservations alike)."""
        def on_change(change: dict) -> None:
            doc = change.get("fullDocument")
            if doc is None:
                return
            if self._buffer is not None:
                self._buffer.append(doc)
            elif self._read_at is not None:  # else the next use reads the whole directory anyway
                self._index.put(specialist_from_doc(doc))

        await changes.follow_changes(self._db[SPECIALISTS], on_change, full_document=True, on_gap=self.invalidate)

    async def index(self, fresh: bool = False) -> DirectoryIndex:
        """The directory, read again when asked to or when older than the TTL."""
        asked_at = self._monotonic()
        async with self._reading:  # one read for all who wait, not one each
            if fresh and self._read_at is not None and self._read_at >= asked_at:
                fresh = False  # read since this caller asked
            if fresh or self._read_at is None or asked_at - self._read_at > self._ttl:
                read_at = self._monotonic()
                self._buffer = []
                try:
                    docs = await self._db[SPECIALISTS].find({}, {"holding": 0}).to_list()
                    index = DirectoryIndex((specialist_from_doc(d) for d in docs), self._weights)
                    for doc in self._buffer:
                        index.put(specialist_from_doc(doc))
                finally:
                    self._buffer = None
                self._index, self._read_at = index, read_at
        return self._index

    async def specialists(self, fresh: bool = False) -> list[Specialist]:
        return (await self.index(fresh)).everyone()

    def put(self, s: Specialist) -> None:
        """An admin change this replica committed."""
        if self._read_at is None:
            return
        before = self._index.get(s.specialist_id)
        self._index.put(s)
        if _takes_cases(s) and (before is None or not _takes_cases(before) or s.free_slots > before.free_slots):
            self.on_freed(s)

    def slots_taken(self, specialist_id: str, taken: int, freed: bool = True) -> None:
        """This replica's reservation (taken 1) or release (-1) committed; `freed` False
        for a reservation given back at once (a panel short of seats): no slot came free."""
        self._index.slots_taken(specialist_id, taken)
        if taken < 0 and freed and (s := self._index.get(specialist_id)) is not None:
            self.on_freed(s)


class MongoMatchingRepository:
    """Inside a unit of work (`session`, whose commit runs `after_commit`), or alone
    for guarded single-document writes. Committed offers arm their deadline in
    `deadlines`, and an answer disarms it."""

    def __init__(self, db: AsyncDatabase, cache: DirectoryCache, deadlines: Deadlines, session=None,
                 after_commit: list[Callable[[], None]] | None = None):
        self._db = db
        self._cache = cache
        self._deadlines = deadlines
        self._session = session
        self._after_commit = after_commit

    def _committed(self, react: Callable[[], None]) -> None:
        if self._after_commit is None:
            react()  # a single-document write: it has landed
        else:
            self._after_commit.append(react)

    async def index(self, refresh: tuple[str, ...] | None = None) -> DirectoryIndex:
        """The directory in memory, indexed; with `refresh`, those specialists read
        again from the store first (the candidates, before a case is declared unmatched)."""
        if refresh is not None:
            await self._cache.refresh(refresh)
        return await self._cache.index()

    async def reserve(self, specialist_id: str, assignment_id: str) -> bool:
        """Takes one slot for the assignment if one is free. Atomic: two workers can never overbook."""
        result = await self._db[SPECIALISTS].update_one(
            {"_id": specialist_id, "accepting": True, "active": {"$ne": False}, "free_slots": {"$gt": 0}},
            {"$inc": {"free_slots": -1}, "$push": {"holding": assignment_id}}, session=self._session,
        )
        if result.modified_count == 1:
            self._committed(lambda: self._cache.slots_taken(specialist_id, 1))
        return result.modified_count == 1

    async def add_offer(self, offer: Offer, facts: CaseFacts) -> None:
        await self._db[ASSIGNMENTS].insert_one({
            "_id": offer.assignment_id, "case_id": offer.case_id, "tenant_id": offer.tenant_id,
            "specialist_id": offer.specialist_id, "specialty": offer.specialty, "score": offer.score,
            "explanation": offer.explanation, "offered_at": offer.offered_at, "respond_by": offer.respond_by,
            "state": offer.state, "organizations": list(offer.organizations), "traceparent": offer.traceparent,
            "facts": dataclasses.asdict(facts), "role": offer.role,
        }, session=self._session)
        self._committed(lambda: self._deadlines.arm(offer.assignment_id, offer.respond_by))

    async def close_offer(self, assignment_id: str, state: str) -> Offer | None:
        """The offer, now answered `state` (declined, expired); None when it was
        answered before (a repeat) or is not one of matching's offers."""
        doc = await self._db[ASSIGNMENTS].find_one({"_id": assignment_id, "state": {"$in": AWAITING}},
                                                   session=self._session)
        if doc is None:
            return None
        result = await self._db[ASSIGNMENTS].update_one({"_id": assignment_id, "state": doc["state"]},
                                                        {"$set": {"state": state}}, session=self._session)
        if result.modified_count != 1:
            raise AnsweredMeanwhile(assignment_id)
        self._committed(lambda: self._deadlines.disarm(assignment_id))
        return _offer(doc | {"state": state})

    async def offer_accepted(self, assignment_id: str) -> bool:
        """The reviewer accepted: the deadline no longer applies. False for a repeat."""
        result = await self._db[ASSIGNMENTS].update_one({"_id": assignment_id, "state": {"$in": AWAITING}},
                                                        {"$set": {"state": ACCEPTED}}, session=self._session)
        self._committed(lambda: self._deadlines.disarm(assignment_id))
        return result.modified_count == 1

    async def record_opinion(self, assignment_id: str, opinion: tuple) -> bool:
        """A panel member signed: the offer is OPINED with the opinion's conclusions
        (id, diagnosis and treatment concordance, the reviewer's diagnosis code).
        False for a repeat, or an offer no longer live (withdrawn meanwhile)."""
        opinion_id, diagnosis, treatment, code = opinion
        result = await self._db[ASSIGNMENTS].update_one(
            {"_id": assignment_id, "state": {"$in": [OPEN, EXPIRING, ACCEPTED]}},
            {"$set": {"state": OPINED, "opinion": {"opinion_id": opinion_id, "diagnosis": diagnosis,
                                                   "treatment": treatment, "code": code}}},
            session=self._session)
        self._committed(lambda: self._deadlines.disarm(assignment_id))
        return result.modified_count == 1

    async def records_added(self, case_id: str, count: int) -> None:
        """The case holds more records now: offers made from here on say so (a reviewer's
        SLA clock waits for the case's first records)."""
        await self._db[ASSIGNMENTS].update_many({"case_id": case_id}, {"$inc": {"facts.records": count}},
                                                session=self._session)
        # And a case waiting for free slots: its offers, when they come, carry them too.
        await self._db[WAITING].update_one({"_id": case_id}, {"$inc": {"facts.records": count}},
                                           session=self._session)

    async def offers_overdue(self, assignment_ids: list[str], now: datetime) -> list[Offer]:
        """Of these, the offers still open past their deadline, and those sent to review
        `RESEND_AFTER` ago with no answer heard (at most `MAX_SENDS` times), now marked
        as sent (EXPIRING)."""
        candidates = self._db[ASSIGNMENTS].find({"_id": {"$in": assignment_ids}, "state": {"$in": list(AWAITING)}},
                                                session=self._session)
        docs = [d async for d in candidates if _overdue(d, now)]
        if docs:  # no top-level $or: the store would scan the collection for it
            result = await self._db[ASSIGNMENTS].update_many(
                {"_id": {"$in": [d["_id"] for d in docs]}, "state": {"$in": list(AWAITING)}},
                {"$set": {"state": EXPIRING}, "$inc": {"deadline_sent": 1}}, session=self._session)
            if result.modified_count != len(docs):
                raise AnsweredMeanwhile(",".join(d["_id"] for d in docs))
        return [_offer(d | {"state": EXPIRING}) for d in docs]

    async def take_back_open_offers(self, specialist_id: str) -> list[Offer]:
        """The specialist's offers still open (unanswered, not yet sent to review to
        expire), now marked as sent (EXPIRING), as at their deadline: the specialist was
        deactivated. Read through the index of offers awaiting an answer (every such
        offer of every specialist: a rare admin call's read, not a case's)."""
        query = {**AWAITING_ANSWER, "specialist_id": specialist_id}
        docs = [d async for d in self._db[ASSIGNMENTS].find(query, session=self._session).hint("awaiting_answer")
                if d["state"] == OPEN]
        if docs:
            result = await self._db[ASSIGNMENTS].update_many(
                {"_id": {"$in": [d["_id"] for d in docs]}, "state": OPEN},
                {"$set": {"state": EXPIRING}, "$inc": {"deadline_sent": 1}}, session=self._session)
            if result.modified_count != len(docs):
                raise AnsweredMeanwhile(",".join(d["_id"] for d in docs))
        return [_offer(d | {"state": EXPIRING}) for d in docs]

    async def close_offers_of_case(self, case_id: str) -> None:
        """The case is withdrawn: its offers awaiting an answer wait no more."""
        awaiting = {"case_id": case_id, "state": {"$in": AWAITING}}
        ids = [d["_id"] async for d in self._db[ASSIGNMENTS].find(awaiting, {"_id": 1}, session=self._session)]
        if ids:
            await self._db[ASSIGNMENTS].update_many(awaiting, {"$set": {"state": WITHDRAWN}}, session=self._session)
            self._committed(lambda: [self._deadlines.disarm(i) for i in ids])

    async def open_deadlines(self) -> list[tuple[str, datetime]]:
        """Every offer awaiting an answer, with when its deadline falls due: an open
        one's at its deadline, one sent to review and not answered `RESEND_AFTER` later
        (re-armed at start and every so often: see Deadlines)."""
        cursor = self._db[ASSIGNMENTS].find(AWAITING_ANSWER, {"respond_by": 1, "state": 1, "deadline_sent": 1},
                                            session=self._session).hint("awaiting_answer")
        due = []
        async for d in cursor:
            if d["state"] == OPEN:
                due.append((d["_id"], d["respond_by"]))
            elif d.get("deadline_sent", 0) < MAX_SENDS:
                due.append((d["_id"], d["respond_by"] + RESEND_AFTER))
        # And every case waiting for free slots, at its next try (few: a backlog's worth).
        waiting = self._db[WAITING].find({"next_try_at": {"$gte": _EPOCH}}, {"next_try_at": 1},
                                         session=self._session).hint("next_try_at_1")
        async for d in waiting:
            due.append((WAITING_KEY + d["_id"], d["next_try_at"]))
        return due

    async def count_waiting(self) -> int:
        """How many cases wait for free slots now (every replica's: secondlook_cases_waiting)."""
        return await self._db[WAITING].count_documents({}, session=self._session)

    async def record_unmatched(self, event_id: str, facts: CaseFacts, reason: str, at: datetime) -> None:
        """Once per event: a repeat of it records nothing more."""
        await self._db[UNMATCHED].update_one(
            {"_id": event_id},
            {"$setOnInsert": {"case_id": facts.case_id, "facts": dataclasses.asdict(facts), "reason": reason,
                              "at": at}}, upsert=True, session=self._session)

    async def decision(self, case_id: str) -> Decision | None:
        offers = await self._db[ASSIGNMENTS].find({"case_id": case_id}, session=self._session).sort(
            "offered_at", 1).to_list()
        unmatched = await self._db[UNMATCHED].find({"case_id": case_id}, session=self._session).sort(
            "at", 1).to_list()
        recorded = [d["facts"] for d in offers + unmatched if d.get("facts")]
        if not recorded:  # waiting for a free slot, never matched, or matched before decisions were recorded
            waiting = await self._db[WAITING].find_one({"_id": case_id}, {"facts": 1, "since": 1},
                                                       session=self._session)
            return Decision(_facts(waiting["facts"]), (), (), waiting["since"]) if waiting else None
        facts = _facts(recorded[0])
        return Decision(facts, tuple(_offer(d) for d in offers), tuple(d["reason"] for d in unmatched))

    async def offers_for_case(self, case_id: str) -> list[tuple[str, str]]:
        """(specialist, assignment) of every offer made for the case."""
        cursor = self._db[ASSIGNMENTS].find({"case_id": case_id}, {"specialist_id": 1}, session=self._session)
        return [(d["specialist_id"], d["_id"]) async for d in cursor]

    async def mark_withdrawn(self, case_id: str) -> None:
        await self._db[WITHDRAWN_CASES].update_one({"_id": case_id}, {"$setOnInsert": {"case_id": case_id}}, upsert=True,
                                             session=self._session)

    async def is_withdrawn(self, case_id: str) -> bool:
        return await self._db[WITHDRAWN_CASES].find_one({"_id": case_id}, {"_id": 1}, session=self._session) is not None

    async def specialist(self, specialist_id: str) -> Specialist | None:
        doc = await self._db[SPECIALISTS].find_one({"_id": specialist_id}, {"holding": 0}, session=self._session)
        return specialist_from_doc(doc) if doc else None

    async def save_specialist(self, saved: Specialist, previous: Specialist | None) -> bool:
        """Writes an admin change if the directory still holds `previous`; False when it
        holds another version. `previous` None creates the specialist (AlreadyListed
        if one was created meanwhile). The slots in use are kept by moving the free slots by the
        capacity's change, atomically with reservations and releases."""
        doc = specialist_to_doc(saved)
        if previous is None:
            try:
                await self._db[SPECIALISTS].insert_one({**doc, "free_slots": saved.capacity, "holding": []},
                                                       session=self._session)
            except DuplicateKeyError:  # it also ends the transaction: nothing more is written
                raise AlreadyListed(saved.specialist_id) from None
        else:
            # A directory seeded before versions existed holds no version: it is 0.
            version = previous.version if previous.version else {"$in": [None, 0]}
            result = await self._db[SPECIALISTS].update_one(
                {"_id": saved.specialist_id, "version": version},
                {"$set": {k: v for k, v in doc.items() if k != "_id"},
                 "$inc": {"free_slots": saved.capacity - previous.capacity}}, session=self._session)
            if result.matched_count != 1:
                return False
        self._committed(lambda: self._cache.put(saved))
        return True

    async def list_specialists(self, query: DirectoryQuery, after: str, limit: int,
                               today: date) -> list[Specialist]:
        """A page of the directory in id order, after the id `after`."""
        found: dict = {}
        if after:
            found["_id"] = {"$gt": after}
        if query.specialty:
            found["specialties"] = query.specialty
        if query.jurisdiction:
            found["licences"] = {"$elemMatch": {"jurisdiction": query.jurisdiction,
                                                "expires": {"$gte": today.isoformat()}}}
        if query.language:
            primary = re.escape(query.language.split("-")[0].lower())
            found["languages"] = {"$regex": f"^{primary}(-|$)", "$options": "i"}
        if query.accepting_only:
            found.update(accepting=True, active={"$ne": False})
        cursor = self._db[SPECIALISTS].find(found, {"holding": 0}, session=self._session).sort("_id", 1).limit(limit)
        return [specialist_from_doc(d) async for d in cursor]

    async def release(self, holds: list[tuple[str, str]], freed: bool = True) -> list[bool | None]:
        """Gives back each (specialist, assignment)'s slot if the assignment still holds
        it, in one request. Per hold True (released now) or False (it did not hold
        one: released before); None when some of a batch did not: which, one
        request cannot tell (release those one at a time to know). `freed` False: the
        slots were reserved in this unit of work and are given back unused."""
        if not holds:
            return []
        if len(holds) == 1:
            (specialist_id, assignment_id), = holds
            result = await self._db[SPECIALISTS].update_one(*_release(specialist_id, assignment_id),
                                                            session=self._session)
            released = [result.modified_count == 1]
        else:
            result = await self._db[SPECIALISTS].bulk_write([UpdateOne(*_release(*h)) for h in holds],
                                                             ordered=False, session=self._session)
            released = [True] * len(holds) if result.modified_count == len(holds) else [None] * len(holds)
        for (specialist_id, _), done in zip(holds, released, strict=True):
            if done:
                self._committed(lambda s=specialist_id: self._cache.slots_taken(s, -1, freed))
        return released

    async def add_waiting(self, waiting: Waiting, next_try_at: datetime) -> None:
        """The case waits for free slots, tried again at `next_try_at` (once: a repeat
        of its event changes nothing)."""
        case_id = waiting.facts.case_id
        await self._db[WAITING].update_one(
            {"_id": case_id},
            {"$setOnInsert": {"facts": dataclasses.asdict(waiting.facts), "cause": waiting.cause.SerializeToString(),
                              "since": waiting.since, "tries": waiting.tries, "next_try_at": next_try_at,
                              "rank": _rank(waiting.facts), "specialties": list(waiting.specialties),
                              "offered": list(waiting.offered)}},
            upsert=True, session=self._session)
        self._committed(lambda: self._deadlines.arm(WAITING_KEY + case_id, next_try_at))

    async def waiting(self, case_id: str) -> Waiting | None:
        doc = await self._db[WAITING].find_one({"_id": case_id}, session=self._session)
        if doc is None:
            return None
        return Waiting(_facts(doc["facts"]), decode(doc["cause"]), doc["since"], doc["tries"],
                       tuple(doc.get("specialties", ())), tuple(doc.get("offered", ())))

    async def wait_longer(self, case_id: str, tries: int, next_try_at: datetime) -> None:
        await self._db[WAITING].update_one({"_id": case_id}, {"$set": {"tries": tries, "next_try_at": next_try_at}},
                                           session=self._session)
        self._committed(lambda: self._deadlines.arm(WAITING_KEY + case_id, next_try_at))

    async def remove_waiting(self, case_id: str) -> None:
        result = await self._db[WAITING].delete_one({"_id": case_id}, session=self._session)
        if result.deleted_count:
            self._committed(lambda: self._deadlines.disarm(WAITING_KEY + case_id))

    async def oldest_waiting(self, limit: int, could_take: Specialist | None = None) -> list[str]:
        """The cases that have waited longest for free slots, expedited ones first: the
        ones a slot that came free is offered to first; with `could_take`, only those in
        a jurisdiction it is licensed in and wanting one of its specialties."""
        query: dict = {"rank": {"$gte": 0}}
        if could_take is not None:  # ... and not offered to it before (it declined or let it expire)
            query |= {"facts.jurisdiction": {"$in": sorted(could_take.jurisdictions())},
                      "specialties": {"$in": list(could_take.specialties)}, "offered": {"$ne": could_take.specialist_id}}
        cursor = self._db[WAITING].find(query, {"_id": 1}, session=self._session).sort(
            [("rank", 1), ("since", 1)]).limit(limit).hint("rank_1_since_1")
        return [d["_id"] async for d in cursor]


def _rank(facts: CaseFacts) -> int:
    """A waiting case's place in the queue for free slots: expedited cases (0) first."""
    return 0 if facts.urgency == Urgency.URGENCY_EXPEDITED else 1


def _takes_cases(s: Specialist) -> bool:
    return s.active and s.accepting and s.free_slots > 0


class AnsweredMeanwhile(Exception):
    """An offer's state changed between the read and the guarded write: run it again."""


def _overdue(doc: dict, now: datetime) -> bool:
    if doc["state"] == OPEN:
        return doc["respond_by"] <= now
    return doc["respond_by"] + RESEND_AFTER <= now and doc.get("deadline_sent", 0) < MAX_SENDS


def _facts(doc: dict) -> CaseFacts:
    known = {f.name for f in dataclasses.fields(CaseFacts)}
    return CaseFacts(**{k: v for k, v in doc.items() if k in known} | {
        "secondary_diagnosis_codes": tuple(doc.get("secondary_diagnosis_codes", ())),
        "requested_services": tuple(Service(**s) for s in doc.get("requested_services", ()))})


def _offer(d: dict) -> Offer:
    # Offers recorded before the protocol kept a state were accepted or answered long ago.
    return Offer(
        assignment_id=d["_id"], case_id=d["case_id"], tenant_id=d["tenant_id"], specialist_id=d["specialist_id"],
        specialty=d["specialty"], score=d["score"], explanation=d["explanation"], offered_at=d["offered_at"],
        respond_by=d["respond_by"], state=d.get("state", ACCEPTED), organizations=tuple(d.get("organizations", ())),
        traceparent=d.get("traceparent", ""), role=d.get("role", REVIEWER),
        opinion=(d["opinion"]["opinion_id"], d["opinion"]["diagnosis"], d["opinion"]["treatment"],
                 d["opinion"].get("code", "")) if d.get("opinion") else None)


def _release(specialist_id: str, assignment_id: str) -> tuple[dict, dict]:
    return ({"_id": specialist_id, "holding": assignment_id},
            {"$inc": {"free_slots": 1}, "$pull": {"holding": assignment_id}})


class MatchingUnitOfWork:
    """What matching's use cases see of one transaction."""

    def __init__(self, uow: UnitOfWork, cache: DirectoryCache, deadlines: Deadlines):
        self.directory: MatchingRepository = MongoMatchingRepository(uow.db, cache, deadlines, uow.session,
                                                                     uow.after_commit)
        self.emit = uow.emit
        self.after_commit = uow.after_commit

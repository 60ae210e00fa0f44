"""MongoDB access (PyMongo's async API) and the unit of work.

A unit of work is one MongoDB transaction holding a state change and the events
it causes: the events land in the service's `outbox` collection in the same
transaction, and the outbox relay takes them to Kafka afterwards.

Each event gets the next number of its case's sequence in that transaction:
its outbox row's _id is `<case id>:<number>`, unique, so two transactions that
take the same number for one case cannot both commit. A number is always one
past a number already committed (this process remembers the last one it wrote
or read per case, and starts a case it has never seen at 1); when the number is
taken after all (another replica wrote since, or this process restarted), the
transaction runs again with the case's last number read from the outbox. So
the numbers follow commit order whichever replica wrote them, at no extra
request in the normal case. After the commit the rows go to the relay, which
publishes them from memory (outbox.py). Each outbox row also carries its case's
shard, the partition its key maps to: the replica whose consumer owns that
partition is the one whose safety-net scan publishes what was left behind.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo import AsyncMongoClient, WriteConcern, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)
from pymongo.read_concern import ReadConcern

from secondlook import metrics
from secondlook.bus import partition_of
from secondlook.clock import utcnow
from secondlook.events import Event, headers_of
from secondlook.groups import Groups
from secondlook.logging import get_logger
from secondlook.settings import Settings
from secondlook.topics import REDRIVE, events_topic

T = TypeVar("T")

log = get_logger(__name__)

OUTBOX = "outbox"
PROCESSED = "processed_events"
SEQUENCE_MEMORY = 100_000  # cases whose last number a process remembers
SESSIONS = "server_sessions"  # per instance: the server sessions its transactions ran in
# Transactions under way at once (a Store's default); what arrives meanwhile shares
# the next. A consumer applies two batches at once, each its own transaction; a
# service whose transactions are commands from many callers may do better with one
# (bigger groups, half the requests: intake, services/intake/__main__.py).
GROUP_LIMIT = 2
GROUP_MAX = 100  # bodies in one transaction
PUBLISH_WAIT = 2.0  # longest a transaction waits for its events to reach the broker
# A commit's receipt lives in the outbox beside its rows, under this shard number
# (no partition has it): written in the same request, and found by the same index.
RECEIPT_SHARD = -1


class _CommandCounter(monitoring.CommandListener):
    """Counts the requests this service sends to the store, by command."""

    def __init__(self, service: str):
        self._service = service

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        metrics.MONGO_COMMANDS.labels(self._service, event.command_name).inc()

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


class _Reachability(monitoring.TopologyListener):
    """secondlook_store_reachable: whether the driver knows a primary it can write to,
    from its own monitoring (heartbeats every ~10 s, whether or not there is work: no
    request of ours). A secondary down is no outage; a primary that stops answering,
    or an election under way, shows here before calls time out."""

    def __init__(self, service: str):
        self._gauge = metrics.STORE_REACHABLE.labels(service)

    def opened(self, event) -> None:
        pass

    def description_changed(self, event) -> None:
        self._gauge.set(1 if event.new_description.has_writable_server() else 0)

    def closed(self, event) -> None:
        pass


def _defaults_not_in(uri: str, **defaults) -> dict:
    """The client options to pass: the defaults, but those the URI sets itself (an
    operator's `?serverSelectionTimeoutMS=2000` wins)."""
    query = uri.partition("?")[2].lower()
    return {name: value for name, value in defaults.items() if f"{name.lower()}=" not in query}


async def insert_once(collection, docs: list[dict], session: AsyncClientSession | None = None) -> list[bool]:
    """Inserts each document unless one with its _id exists; per document whether it
    was inserted now. One request, and a plain insert: on the store an upsert costs
    several times as much, and a repeat is the rare case. Outside a transaction
    only (a duplicate key aborts one)."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False, session=session)
        return [True] * len(docs)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or any(e.get("code") != 11000 for e in errors):
            raise
        repeats = {e["index"] for e in errors}
        return [i not in repeats for i in range(len(docs))]


RECEIPTS_FROM, RECEIPTS_TO = "~", "~~"  # every receipt's _id is between these


def receipt_id(at) -> str:
    """Receipts sort by the time they were written, after every row ("~" sorts
    after any case id's characters)."""
    return f"{receipt_id_bound(at)}-{uuid.uuid4().hex}"


def receipt_id_bound(at) -> str:
    """Every receipt written before `at` has a smaller _id than this, every other a larger."""
    return f"~{at:%Y%m%d%H%M%S%f}"


def rows_of_case(case_id: str) -> dict:
    """The filter of a case's outbox rows, by their _id range (`case:number`)."""
    return {"_id": {"$gte": f"{case_id}:", "$lt": f"{case_id};"}}  # ";" sorts right after ":"


def _may_have_committed_or_store_down(exc: Exception) -> bool:
    """The group's outcome is unknown, or the store cannot be reached: not one body's fault."""
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout)):
        return True
    return isinstance(exc, PyMongoError) and (exc.has_error_label("UnknownTransactionCommitResult")
                                              or exc.has_error_label("TransientTransactionError"))


class GroupDuplicate(Exception):
    """A body of a group commit inserted a duplicate key: the group is run again one body at a time."""


class SequenceTaken(PyMongoError):
    """Another transaction committed the sequence number this one took: run it again."""

    def __init__(self) -> None:
        super().__init__("a case's sequence number was taken by another transaction",
                         error_labels=["TransientTransactionError"])


class UnitOfWork:
    """What a transaction's body sees: the database, the session, `emit`, and
    `insert_later`."""

    def __init__(self, db: AsyncDatabase, session: AsyncClientSession):
        self.db = db
        self.session = session
        self.events: list[Event] = []
        self.after_commit: list[Callable[[], None]] = []
        # (collection, document, what a duplicate key means to the body's caller)
        self.inserts: list[tuple[str, dict, Exception]] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def insert_later(self, collection: str, doc: dict, on_duplicate: Exception) -> None:
        """Inserts `doc` when the body is done, with the documents every other body of
        the group commit inserts into that collection: one request for them all, not
        one round trip each while the transaction is open. A duplicate key aborts
        the group, which then runs body by body; alone, the body's caller gets
        `on_duplicate`."""
        self.inserts.append((collection, doc, on_duplicate))


class Store:
    """One service's database. Every write that matters goes through `transact`."""

    def __init__(self, settings: Settings, service: str, listeners: tuple = (), transactions_at_once: int = GROUP_LIMIT):
        """`listeners`: pymongo command listeners (tests count store requests with them);
        `transactions_at_once`: group commits under way at once (GROUP_LIMIT)."""
        self.service = service
        # Every write, inside a transaction or not, is acknowledged by a majority
        # and journaled; retryable writes survive a primary step-down.
        self.client: AsyncMongoClient = AsyncMongoClient(
            settings.mongo_uri, tz_aware=True, maxPoolSize=settings.mongo_max_pool_size,
            w="majority", journal=True, retryWrites=settings.mongo_retry_writes,
            event_listeners=[_CommandCounter(service), _Reachability(service), *listeners],
            **_defaults_not_in(settings.mongo_uri, serverSelectionTimeoutMS=10_000),
        )
        self._transaction_timeout = settings.mongo_transaction_timeout_seconds
        self._instance = settings.instance_id
        self._recorded_sessions: set[bytes] = set()
        # case id -> the last sequence number known committed (least recently used first).
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        self.db: AsyncDatabase = self.client[settings.database_for(service)]
        self.outbox_topic = events_topic(service)
        self.shards = settings.kafka_topic_partitions
        # The running relay's hook: takes a commit's outbox rows and its receipt's id
        # to publish from memory (outbox.py); the future is done once they are on the broker.
        self.on_commit: Callable[[list[dict], str], asyncio.Future] | None = None
        self._groups = Groups(self._run_group, transactions_at_once, GROUP_MAX)
        # Wakes the relay. `scan_needed`: the outbox may hold rows nobody is
        # publishing from memory; the relay's next round scans for them.
        self.outbox_written = asyncio.Event()
        self.scan_needed = True
        self.scan_every_shard = False

    async def ensure_indexes(self) -> None:
        await self.db[OUTBOX].create_index([("published", 1), ("shard", 1), ("_id", 1)], name="relay")
        # A case's rows are found by their _id ("case:number", sorted by case then
        # number): an index of their own would cost every insert and every mark.
        try:  # made by earlier versions (run every replica on this version first: they query without it)
            await self.db[OUTBOX].drop_index("by_case")
        except OperationFailure as exc:
            if exc.code not in (26, 27):  # NamespaceNotFound, IndexNotFound: nothing to drop
                log.warning("outbox_index_not_dropped", index="by_case", error=str(exc)[:200])
        # For retention (retention.py): what is past the grace period.
        await self.db[OUTBOX].create_index([("published_at", 1)], name="retention")
        await self.db[PROCESSED].create_index([("at", 1)], name="retention")

    async def reap_orphans(self) -> int:
        """Aborts the transactions this instance's predecessor left open when it died.

        A process killed mid-transaction leaves it open on the server, its
        documents locked against every writer, until the server reaps it (60 s by
        default). Each instance records the server sessions its transactions run
        in; a restarted instance of the same name kills those sessions at start,
        which aborts what they left open. Returns how many sessions were killed.
        """
        doc = await self.db[SESSIONS].find_one({"_id": self._instance})
        lsids = doc.get("lsids", []) if doc else []
        if lsids:
            await self.client.admin.command("killSessions", [{"id": lsid} for lsid in lsids])
        await self.db[SESSIONS].delete_one({"_id": self._instance})
        return len(lsids)

    async def _record_session(self, session: AsyncClientSession) -> None:
        lsid = session.session_id["id"]
        if bytes(lsid) in self._recorded_sessions:
            return
        await self.db[SESSIONS].update_one({"_id": self._instance}, {"$addToSet": {"lsids": lsid}}, upsert=True)
        self._recorded_sessions.add(bytes(lsid))

    def request_scan(self, every_shard: bool = False) -> None:
        """Asks the relay to scan the outbox: events were re-queued (the shards this
        replica owns), or a commit of this replica's may have landed unseen
        (`every_shard`: its case may belong to another replica's shard)."""
        self.scan_needed = True
        self.scan_every_shard = self.scan_every_shard or every_shard
        self.outbox_written.set()

    async def processed(self, event_id: str) -> bool:
        """Whether a consumer committed the event's effect (its marker exists)."""
        return await self.db[PROCESSED].count_documents({"_id": event_id}, limit=1) > 0

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def transact(self, body: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Runs `body` in a transaction, retried on transient errors (write conflicts)
        for at most `mongo_transaction_timeout_seconds`, then the last error is raised;
        returns once the events it emitted are on the broker (at most PUBLISH_WAIT).

        Group commit: bodies that arrive while `transactions_at_once` transactions are under
        way share the next one, one after another in one session, their events'
        outbox rows in one insert; each still gets its own result. If any of them
        raises, the group is aborted and each runs again alone, so one body's error
        never touches another's work (unless the outcome is unknown or the store is
        away: then every body gets that error). `body` may run more than once: it
        must only write through the session. A caller cancelled once its group has
        started does not stop the body: it commits, as if the reply were lost.
        """
        result, published = await self._groups.submit(body)
        if published is not None:
            try:
                await asyncio.wait_for(asyncio.shield(published), PUBLISH_WAIT)
            except TimeoutError:
                pass  # the broker is slow or away: the rows stay queued, the commit stands
        return result

    async def _run_group(self, bodies: list[Callable[[UnitOfWork], Awaitable]]) -> list:
        """Each body's (result, published future) or its error."""
        if len(bodies) > 1:
            try:
                return await self._transact(bodies)
            except Exception as exc:
                if _may_have_committed_or_store_down(exc):
                    return [exc] * len(bodies)  # running them again could apply them twice
                log.info("group_commit_split", bodies=len(bodies), error=type(exc).__name__)
        outcomes = []
        for body in bodies:
            try:
                outcomes += await self._transact([body])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def _transact(self, bodies: list[Callable[[UnitOfWork], Awaitable]]) -> list[tuple]:
        committed: list[Event] = []
        rows: list[dict] = []  # the committed events' outbox rows
        receipt: list[str] = []  # [their receipt's id]
        callbacks: list[Callable[[], None]] = []
        async with self.client.start_session() as session:
            await self._record_session(session)

            async def attempt(s: AsyncClientSession) -> list:
                results, events, reactions, inserts = [], [], [], []
                for body in bodies:
                    uow = UnitOfWork(self.db, s)
                    results.append(await body(uow))
                    events += uow.events
                    reactions += uow.after_commit
                    inserts += uow.inserts
                if inserts:
                    await self._insert_deferred(inserts, s, alone=len(bodies) == 1)
                rows[:], receipt[:] = [], []
                if events:
                    inserted, commit_receipt = await self._insert_outbox(events, s)
                    rows[:], receipt[:] = inserted, [commit_receipt]
                committed[:] = events  # only the last, successful attempt counts
                callbacks[:] = reactions
                return results

            try:
                results = await self._with_transaction(session, attempt)
            except PyMongoError:
                self.request_scan(every_shard=True)  # a commit whose outcome was lost may have landed
                raise
        for row in rows:
            self._remember_seq(row["case_id"], row["seq"])
        metrics.MONGO_TRANSACTIONS.labels(self.service).inc()
        published = None
        if committed:
            for e in committed:
                metrics.STAGE_EVENTS.labels(self.service, e.type).inc()
            if self.on_commit is not None:
                published = self.on_commit(rows, receipt[0])
            else:
                self.request_scan()
        for callback in callbacks:
            callback()
        return [(r, published) for r in results]

    async def _with_transaction(self, session: AsyncClientSession,
                                attempt: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """The driver's convenient-transaction loop (retry the whole transaction on a
        TransientTransactionError, the commit on an UnknownTransactionCommitResult),
        with our bound instead of its fixed 120 s. Not a client-side timeout
        (pymongo.timeout): one that expires mid-attempt also cuts short the abort,
        and the server keeps the transaction, its documents locked, until it reaps it."""
        started = time.monotonic()
        retry = 0
        last_error: BaseException | None = None

        def within(delay: float = 0.0) -> bool:
            return time.monotonic() + delay - started < self._transaction_timeout

        while True:
            if retry:
                delay = random.random() * min(0.005 * 1.5**retry, 0.5)
                if not within(delay):
                    assert last_error is not None
                    raise last_error
                await asyncio.sleep(delay)
            retry += 1
            await session.start_transaction(read_concern=ReadConcern("snapshot"),
                                            write_concern=WriteConcern("majority", j=True))
            try:
                result = await attempt(session)
            except BaseException as exc:
                if session.in_transaction:
                    await session.abort_transaction()
                if isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError") and within():
                    last_error = exc
                    continue
                raise
            while True:
                try:
                    await session.commit_transaction()
                    return result
                except PyMongoError as exc:
                    last_error = exc
                    if exc.has_error_label("UnknownTransactionCommitResult") and within():
                        continue  # the commit again: committing twice is safe
                    if exc.has_error_label("TransientTransactionError") and within():
                        break  # the whole transaction again
                    raise

    def _remember_seq(self, case_id: str, seq: int) -> None:
        self._last_seq[case_id] = max(seq, self._last_seq.get(case_id, 0))
        self._last_seq.move_to_end(case_id)
        while len(self._last_seq) > SEQUENCE_MEMORY:
            self._last_seq.popitem(last=False)

    async def _insert_deferred(self, inserts: list[tuple[str, dict, Exception]], session: AsyncClientSession,
                               *, alone: bool) -> None:
        """The bodies' `insert_later` documents, one request per collection."""
        by_collection: dict[str, list[tuple[dict, Exception]]] = {}
        for collection, doc, on_duplicate in inserts:
            by_collection.setdefault(collection, []).append((doc, on_duplicate))
        for collection, pending in by_collection.items():
            try:
                await self.db[collection].insert_many([doc for doc, _ in pending], session=session)
            except BulkWriteError as exc:
                duplicates = [e["index"] for e in exc.details.get("writeErrors", []) if e.get("code") == 11000]
                if duplicates and alone:
                    raise pending[duplicates[0]][1] from None
                if duplicates:  # the group runs again body by body, where it is one body's own duplicate
                    raise GroupDuplicate() from exc  # not a store failure: no outbox scan for it
                raise

    async def _insert_outbox(self, events: list[Event], session: AsyncClientSession) -> tuple[list[dict], str]:
        """Inserts the events' outbox rows, numbered in their cases' sequences, and the
        commit's receipt, in one request; returns the rows and the receipt's id.

        The rows are written published: the receipt says they may not be yet, until
        the relay deletes it once the broker has them (one delete per commit, where
        marking each row cost the store an update per event)."""
        docs = self._outbox_docs(events)
        now = docs[0]["created_at"]
        receipt = {"_id": receipt_id(now), "shard": RECEIPT_SHARD, "published": False, "created_at": now,
                   "rows": [{"id": d["_id"], "shard": d["shard"]} for d in docs]}
        try:
            await self.db[OUTBOX].insert_many([*docs, receipt], session=session)
            return docs, receipt["_id"]
        except (DuplicateKeyError, BulkWriteError) as exc:
            if isinstance(exc, BulkWriteError) and not any(
                    e.get("code") == 11000 for e in exc.details.get("writeErrors", [])):
                raise
            # A number was taken: learn the cases' last numbers and run the
            # transaction again (a transient error to the transaction loop).
            for case_id in {e.case_id for e in events}:
                last = await self.db[OUTBOX].find_one(rows_of_case(case_id), sort=[("_id", -1)],
                                                      projection={"seq": 1})
                self._remember_seq(case_id, last["seq"] if last else 0)
            raise SequenceTaken() from None

    def _outbox_docs(self, events: list[Event]) -> list[dict]:
        next_seq: dict[str, int] = {}
        now = utcnow()
        docs = []
        for e in events:
            seq = next_seq.get(e.case_id, self._last_seq.get(e.case_id, 0)) + 1
            next_seq[e.case_id] = seq
            docs.append({
                # Unique per case and number; sorting by _id sorts by case, then number.
                "_id": f"{e.case_id}:{seq:012d}",
                "case_id": e.case_id,
                "seq": seq,
                "shard": partition_of(e.case_id.encode(), self.shards),
                "event_id": e.event_id,
                "type": e.type,
                # Redrive requests are control traffic every service listens to.
                "topic": REDRIVE if e.type == "redrive.requested" else self.outbox_topic,
                "payload": e.SerializeToString(),
                "headers": [[k, v] for k, v in headers_of(e)],
                "created_at": now,
                "published": True,  # unless its receipt is still there
                "published_at": now,
            })
        return docs

    async def close(self) -> None:
        await self.client.close()

"""The access audit in MongoDB: an append-only collection of hash-chained records
(audit.py), one chain per tenant.

Accesses that arrive together are appended together: one appender per process
(the kernel's group-commit helper with one group at a time), one insert per
tenant's run of records. Another replica appending to the same chain meanwhile
makes the insert collide on the record's id (tenant and sequence number): the
appender reads the chain's end again and chains what is left after it. The
services only ever insert here; grant the database user no update or remove on
this collection in production, and keep it at least six years (no retention job
touches it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from .audit import GENESIS, Access, chain
from .groups import Groups

AUDIT = "audit"
MAX_ROUNDS = 10  # chain collisions with other replicas before giving up on a group


def _chain_range(tenant_id: str) -> dict:
    # Record ids are "<tenant>:<12-digit seq>": a tenant's chain is one _id range (";" follows ":").
    return {"_id": {"$gte": f"{tenant_id}:", "$lt": f"{tenant_id};"}}


class MongoAuditLog:
    def __init__(self, db: AsyncDatabase):
        self._records = db[AUDIT]
        self._ends: dict[str, tuple[int, str]] = {}  # tenant -> (last seq, its hash), as this process knows it
        self._appender = Groups(self._append, limit=1, max_size=500)

    async def ensure_indexes(self) -> None:
        await self._records.create_index([("tenant_id", ASCENDING), ("case_id", ASCENDING), ("seq", ASCENDING)],
                                         name="by_case")

    async def record(self, access: Access) -> None:
        """Returns once the access is recorded (raises if it could not be)."""
        await self._appender.submit(access)

    async def _end(self, tenant_id: str) -> tuple[int, str]:
        if tenant_id not in self._ends:
            last = await self._records.find_one(_chain_range(tenant_id), sort=[("_id", DESCENDING)],
                                                projection={"seq": 1, "hash": 1})
            self._ends[tenant_id] = (last["seq"], last["hash"]) if last else (0, GENESIS)
        return self._ends[tenant_id]

    async def _append(self, accesses: list[Access]) -> list[None | Exception]:
        by_tenant: dict[str, list[int]] = {}
        for i, access in enumerate(accesses):
            by_tenant.setdefault(access.tenant_id, []).append(i)
        outcomes: list[None | Exception] = [None] * len(accesses)
        for tenant_id, positions in by_tenant.items():
            try:
                await self._append_chain(tenant_id, [accesses[i] for i in positions])
            except Exception as exc:
                self._ends.pop(tenant_id, None)
                for i in positions:
                    outcomes[i] = exc
        return outcomes

    async def _append_chain(self, tenant_id: str, accesses: list[Access]) -> None:
        for _ in range(MAX_ROUNDS):
            seq, prev = await self._end(tenant_id)
            records = []
            for access in accesses:
                seq += 1
                records.append(chain(access, seq, prev))
                prev = records[-1]["hash"]
            try:
                await self._records.insert_many(records, ordered=True)
            except BulkWriteError as exc:
                inserted = exc.details.get("nInserted", 0)
                if not all(e.get("code") == 11000 for e in exc.details.get("writeErrors", [])):
                    raise
                accesses = accesses[inserted:]  # another replica took the next number: chain the rest after it
                self._ends.pop(tenant_id, None)
                continue
            self._ends[tenant_id] = (seq, prev)
            return
        raise RuntimeError(f"audit chain of tenant {tenant_id!r} kept moving under {MAX_ROUNDS} appends")


async def tenants(db: AsyncDatabase) -> list[str]:
    return sorted(await db[AUDIT].distinct("tenant_id"))


async def chain_of(db: AsyncDatabase, tenant_id: str) -> AsyncIterator[dict]:
    """A tenant's records in chain order."""
    async for record in db[AUDIT].find(_chain_range(tenant_id)).sort("_id", ASCENDING):
        yield record


async def history(db: AsyncDatabase, case_id: str, tenant_id: str | None = None) -> list[dict]:
    """Every recorded access to a case, oldest first."""
    query = {"case_id": case_id, **({"tenant_id": tenant_id} if tenant_id else {})}
    return await db[AUDIT].find(query).sort([("at", ASCENDING), ("seq", ASCENDING)]).to_list()

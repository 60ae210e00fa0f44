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


class MongoAuditLog:
    def __init__(self, db: AsyncDatabase):
        self._records = db[AUDIT]
        self._ends: dict[str, tuple[int, str]] = {}  # tenant -> (last seq, its hash), as this process knows it
        self._appender = Groups(self._append, limit=1, max_size=500)

    async def ensure_indexes(self) -> None:
        # One record per place in a tenant's chain (the record's _id says the same).
        await self._records.create_index([("tenant_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="chain")
        await self._records.create_index([("case_id", ASCENDING), ("seq", ASCENDING)], name="by_case")

    async def record(self, access: Access) -> None:
        """Returns once the access is recorded (raises if it could not be)."""
        await self._appender.submit(access)

    async def record_once(self, access: Access) -> None:
        """Records the access unless one by the same method to the same case is there
        (a retried SubmitCase whose first audit append failed after its commit)."""
        if await self._records.find_one({"case_id": access.case_id, "tenant_id": access.tenant_id,
                                         "method": access.method}, projection={"_id": 1}) is None:
            await self.record(access)

    async def _end(self, tenant_id: str) -> tuple[int, str]:
        if tenant_id not in self._ends:
            last = await self._records.find_one({"tenant_id": tenant_id}, sort=[("seq", DESCENDING)],
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
                errors = exc.details.get("writeErrors", [])
                if exc.details.get("writeConcernErrors") or not errors or any(e.get("code") != 11000 for e in errors):
                    raise
                accesses = accesses[exc.details.get("nInserted", 0):]  # another replica took the next number:
                self._ends.pop(tenant_id, None)                        # chain the rest after its records
                if not accesses:
                    return
                continue
            self._ends[tenant_id] = (seq, prev)
            return
        raise RuntimeError(f"audit chain of tenant {tenant_id!r} kept moving under {MAX_ROUNDS} appends")


async def tenants(db: AsyncDatabase) -> list[str]:
    return sorted(await db[AUDIT].distinct("tenant_id"))


async def chain_of(db: AsyncDatabase, tenant_id: str) -> AsyncIterator[dict]:
    """A tenant's records in chain order."""
    async for record in db[AUDIT].find({"tenant_id": tenant_id}).sort("seq", ASCENDING):
        yield record


async def history(db: AsyncDatabase, case_id: str, tenant_id: str | None = None) -> list[dict]:
    """Every recorded access to a case, oldest first."""
    query = {"case_id": case_id, **({"tenant_id": tenant_id} if tenant_id else {})}
    return sorted(await db[AUDIT].find(query).to_list(), key=lambda r: (r["at"], r["tenant_id"], r["seq"]))

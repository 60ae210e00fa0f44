"""The access audit in the real store: concurrent appends from two replicas make
one whole chain per tenant, and `secondlook audit verify` names the first broken
link after tampering; `audit show` lists a case's accesses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from secondlook import auditlog
from secondlook.audit import Access, verify
from secondlook.auditlog import AUDIT, MongoAuditLog
from secondlook.store import Store

pytestmark = pytest.mark.integration


def _access(tenant: str, i: int, case_id: str = "") -> Access:
    return Access(tenant, f"user-{i}", ("submitter",), "GetCase", case_id or f"case-{i % 5}",
                  ("patient", "consent"), datetime.now(timezone.utc))


@pytest.fixture
async def store(infra_settings):
    store = Store(infra_settings, "intake")
    yield store
    await store.client.drop_database(store.db.name)
    await store.close()


async def _chains(store, tenants) -> dict[str, tuple[int, object]]:
    return {t: verify([r async for r in auditlog.chain_of(store.db, t)]) for t in tenants}


async def test_two_replicas_appending_at_once_make_one_whole_chain_per_tenant(store):
    replicas = [MongoAuditLog(store.db), MongoAuditLog(store.db)]
    await replicas[0].ensure_indexes()
    await asyncio.gather(*(replicas[i % 2].record(_access(f"t{i % 3}", i)) for i in range(120)))
    assert await _chains(store, ["t0", "t1", "t2"]) == {"t0": (40, None), "t1": (40, None), "t2": (40, None)}
    assert await auditlog.tenants(store.db) == ["t0", "t1", "t2"]


def _cli(infra_settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SECONDLOOK_MONGO_URI": infra_settings.mongo_uri,
           "SECONDLOOK_MONGO_DATABASE_PREFIX": infra_settings.mongo_database_prefix, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "secondlook.cli", "audit", *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("tamper, first_broken", [
    ("change", "record #4: its content does not match its hash"),
    ("delete", "record #4: is missing"),
    ("reorder", "record #4: does not follow the record before it"),
])
async def test_audit_verify_names_the_first_broken_link(store, infra_settings, tamper, first_broken):
    log = MongoAuditLog(store.db)
    for i in range(8):
        await log.record(_access("tenant-a", i, "case-x"))
        await log.record(_access("tenant-b", i))
    whole = _cli(infra_settings, "verify")
    assert whole.returncode == 0 and "whole" in whole.stdout and "broken" not in whole.stdout

    records = store.db[AUDIT]
    if tamper == "change":
        await records.update_one({"_id": "tenant-a:000000000004"}, {"$set": {"subject": "someone-else"}})
    elif tamper == "delete":
        await records.delete_one({"_id": "tenant-a:000000000004"})
    else:  # swap the places (sequence numbers and ids) of records 4 and 5
        four = await records.find_one({"_id": "tenant-a:000000000004"})
        five = await records.find_one({"_id": "tenant-a:000000000005"})
        await records.delete_many({"_id": {"$in": [four["_id"], five["_id"]]}})
        await records.insert_many([{**four, "_id": five["_id"], "seq": 5}, {**five, "_id": four["_id"], "seq": 4}])

    broken = _cli(infra_settings, "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    first = broken.stdout.split("first broken link:", 1)[1]
    assert "'tenant-a'" in first and first_broken in " ".join(first.split())
    assert "tenant-b" in broken.stdout  # the other tenant's chain is reported whole beside it
    mistyped = _cli(infra_settings, "verify", "--tenant", "tenant-z")
    assert mistyped.returncode == 1 and "tenant-z has no audit records" in mistyped.stdout


async def test_audit_show_lists_a_cases_accesses(store, infra_settings):
    log = MongoAuditLog(store.db)
    for i in range(3):
        await log.record(_access("tenant-a", i, "case-shown"))
    await log.record(_access("tenant-a", 9, "another-case"))
    shown = _cli(infra_settings, "show", "case-shown")
    assert shown.returncode == 0
    assert [u for u in ("user-0", "user-1", "user-2", "user-9") if u in shown.stdout] == ["user-0", "user-1", "user-2"]
    assert "GetCase" in shown.stdout and "patient, consent" in shown.stdout

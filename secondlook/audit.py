"""The access audit's records and their hash chain (45 CFR 164.312(b), audit controls).

Every read or change of PHI becomes one record: who (subject, their own tenant, roles), what
(case id and the parts of it), when, and why (the method). Records form one chain
per tenant: each holds its sequence number and the hash of the record before it,
and its own hash covers all of that, so changing a record, deleting one or swapping
two breaks the chain at a place `verify` names. Pure rules, the protocol a service
records through and `recording` (a record started where a write commits); the store
adapter is `auditlog.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from .logging import bound_contextvars, get_logger

log = get_logger(__name__)
GENESIS = "0" * 64  # the hash the first record of a chain follows


@dataclass(frozen=True)
class Access:
    """One access, before it has its place in a chain."""

    tenant_id: str  # whose chain: the case's tenant
    subject: str
    roles: tuple[str, ...]
    method: str  # why: the API method, e.g. "GetCase"
    case_id: str
    fields: tuple[str, ...]  # the parts of the case read or changed
    at: datetime
    # The caller's own tenant (its token's): an operator granted another tenant's cases
    # reads them from its own, and a subject is unique only within its tenant.
    caller_tenant: str = ""


class AuditTrail(Protocol):
    """Where a service records accesses (auditlog.MongoAuditLog; a list in unit tests)."""

    async def record(self, access: Access) -> None: ...
    async def record_once(self, access: Access) -> None: ...


def recording(audit: AuditTrail, access: Access) -> asyncio.Future:
    """`access` being recorded in a task of its own, started where a write commits (a
    unit of work's `after_commit`, which runs in the commit, not in the caller): a
    caller that goes away meanwhile neither stops nor loses it (callers await it
    through `asyncio.shield`), and a failure is logged (`audit_record_failed`: the
    method and case id only) whether anyone waits for it or not."""
    task = asyncio.ensure_future(audit.record(access))

    def check(done: asyncio.Future) -> None:
        if not done.cancelled() and done.exception() is not None:
            with bound_contextvars(case_id=access.case_id):
                log.error("audit_record_failed", method=access.method, error=type(done.exception()).__name__)

    task.add_done_callback(check)
    return task


def _instant(at: datetime) -> str:
    """Milliseconds, UTC: what the store keeps of a time, so a record read back hashes the same."""
    at = at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return at.isoformat(timespec="milliseconds")


def record_hash(record: dict) -> str:
    """SHA-256 over the record's canonical JSON (sorted keys), its own hash left out."""
    body = {k: record[k] for k in ("tenant_id", "seq", "prev_hash", "subject", "roles", "method", "case_id",
                                   "fields")}
    body["at"] = _instant(record["at"])
    if "caller_tenant" in record:  # records from before it was kept hash without it
        body["caller_tenant"] = record["caller_tenant"]
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def chain(access: Access, seq: int, prev_hash: str) -> dict:
    """The record of `access` as number `seq` of its tenant's chain, after `prev_hash`."""
    at = datetime.fromisoformat(_instant(access.at))
    record = {"_id": f"{access.tenant_id}:{seq:012d}", "tenant_id": access.tenant_id, "seq": seq,
              "prev_hash": prev_hash, "at": at, "subject": access.subject, "roles": list(access.roles),
              "method": access.method, "case_id": access.case_id, "fields": list(access.fields),
              "caller_tenant": access.caller_tenant}
    record["hash"] = record_hash(record)
    return record


@dataclass(frozen=True)
class Break:
    tenant_id: str
    seq: int  # where the chain breaks: the first record that does not hold
    reason: str

    def __str__(self) -> str:
        return f"tenant {self.tenant_id!r}, record #{self.seq}: {self.reason}"


def verify(records: Iterable[dict]) -> tuple[int, Break | None]:
    """Walks one tenant's records in the order given (by sequence number): how many
    held, and the first broken link (None when the chain is whole)."""
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    for r in records:
        tenant = r.get("tenant_id", "?")
        if r.get("seq") != expected_seq:
            missing = "is missing" if isinstance(r.get("seq"), int) and r["seq"] > expected_seq else "is out of place"
            return checked, Break(tenant, expected_seq, f"{missing} (found #{r.get('seq')} where it should be)")
        if r.get("prev_hash") != prev_hash:
            return checked, Break(tenant, expected_seq, "does not follow the record before it (prev_hash differs)")
        try:
            actual = record_hash(r)
        except (KeyError, TypeError, ValueError, AttributeError):
            actual = None
        if r.get("hash") != actual:
            return checked, Break(tenant, expected_seq, "its content does not match its hash (changed)")
        prev_hash, expected_seq, checked = r["hash"], expected_seq + 1, checked + 1
    return checked, None

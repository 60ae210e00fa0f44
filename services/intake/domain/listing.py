"""What a ListCases request asks for, and its page tokens.

Cases are listed newest first, by (submitted_at, case_id). A page token is the
last case a page showed, so the next page starts strictly after it: a case
submitted meanwhile sorts before the token and never shifts the pages, and each
listed case appears once. The token is bound to the filters it was given for
(secondlook.paging).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from secondlook import paging
from secondlook.v1 import case_pb2, intake_pb2

from .submission import IDENTIFIER_SYSTEM, MAX_IDENTIFIER_SYSTEM_CHARS

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_IDENTIFIER_CHARS = 200

Violation = tuple[str, str]


@dataclass(frozen=True)
class Cursor:
    submitted_at: datetime  # to the millisecond, as stored
    case_id: str


@dataclass(frozen=True)
class CaseQuery:
    tenants: tuple[str, ...]
    statuses: tuple[int, ...]
    kinds: tuple[int, ...]
    urgencies: tuple[int, ...]
    submitted_after: datetime | None
    submitted_before: datetime | None
    page_size: int
    after: Cursor | None  # the last case of the page before
    full: bool  # the whole case (PHI) rather than the summary
    patient: tuple[str, str] | None = None  # (identifier system, value): that patient's cases only

    def fingerprint(self) -> str:
        # The patient is in as a flag only: a token must not carry a hash of an MRN
        # (a cursor is a position, good for any patient's list).
        filters = [self.tenants, self.statuses, self.kinds, self.urgencies,
                   self.submitted_after and self.submitted_after.isoformat(),
                   self.submitted_before and self.submitted_before.isoformat(), self.full, self.patient is not None]
        return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]


def _time(ts) -> datetime | None:
    try:
        return ts.ToDatetime(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None


def _enum_values(c: list, path: str, values, enum, unspecified_ok: bool = False) -> tuple[int, ...]:
    known = set(enum.values()) - ({0} if not unspecified_ok else set())
    bad = [v for v in values if v not in known]
    if bad:
        c.append((path, f"has values that are not {enum.DESCRIPTOR.name} values: {bad[:5]}"))
    return tuple(sorted(set(values)))


def parse_query(req: intake_pb2.ListCasesRequest, readable: frozenset[str]) -> tuple[CaseQuery | None,
                                                                                      list[Violation]]:
    """`readable`: the tenants the caller may read (Principal.readable_tenants)."""
    v: list[Violation] = []
    if req.tenant_id:
        if req.tenant_id not in readable:
            v.append(("tenant_id", "is not a tenant this token may read"))
        tenants = (req.tenant_id,)
    else:
        tenants = tuple(sorted(readable))
    statuses = _enum_values(v, "statuses", req.statuses, case_pb2.CaseStatus)
    kinds = _enum_values(v, "kinds", req.kinds, case_pb2.CaseKind)
    urgencies = _enum_values(v, "urgencies", req.urgencies, case_pb2.Urgency)
    after = _time(req.submitted_after) if req.HasField("submitted_after") else None
    before = _time(req.submitted_before) if req.HasField("submitted_before") else None
    for path, given, parsed in (("submitted_after", req.HasField("submitted_after"), after),
                                ("submitted_before", req.HasField("submitted_before"), before)):
        if given and parsed is None:
            v.append((path, "is not a valid time"))
    if after and before and after >= before:
        v.append(("submitted_before", "must be later than submitted_after"))
    if req.page_size < 0:
        v.append(("page_size", f"must not be negative (0: {DEFAULT_PAGE_SIZE}; above {MAX_PAGE_SIZE} reads as "
                               f"{MAX_PAGE_SIZE})"))
    if req.view not in intake_pb2.CaseView.values():
        v.append(("view", "must be CASE_VIEW_SUMMARY or CASE_VIEW_FULL"))
    patient = None
    if req.HasField("patient_identifier"):
        system, value = req.patient_identifier.system.strip(), req.patient_identifier.value.strip()
        if not IDENTIFIER_SYSTEM.match(system) or len(system) > MAX_IDENTIFIER_SYSTEM_CHARS:
            v.append(("patient_identifier.system", f"{'must be' if system else 'is required:'} the URI of the "
                      "system that assigned the value (urn:oid:, urn:uuid: or http(s), at most "
                      f"{MAX_IDENTIFIER_SYSTEM_CHARS} characters)"))
        if not value or len(value) > MAX_IDENTIFIER_CHARS:
            v.append(("patient_identifier.value", f"is required, at most {MAX_IDENTIFIER_CHARS} characters"))
        patient = (system, value)
    query = CaseQuery(tenants=tenants, statuses=statuses, kinds=kinds, urgencies=urgencies, submitted_after=after,
                      submitted_before=before, page_size=min(req.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
                      after=None, full=req.view == intake_pb2.CASE_VIEW_FULL, patient=patient)
    cursor = None
    if req.page_token:
        cursor = _read_token(req.page_token, query.fingerprint())
        if cursor is None:
            v.append(("page_token", "is not a page token ListCases gave for these filters"))
    if v:
        return None, v
    return CaseQuery(**{**query.__dict__, "after": cursor}), []


def page_token(query: CaseQuery, last_submitted_at: datetime, last_case_id: str) -> str:
    return paging.page_token("ListCases", query.fingerprint(),
                             [last_submitted_at.isoformat(timespec="milliseconds"), last_case_id])


def _read_token(token: str, fingerprint: str) -> Cursor | None:
    position = paging.read_page_token(token, "ListCases", fingerprint)
    try:
        at, case_id = position
        at = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return None
    if not isinstance(case_id, str):
        return None
    return Cursor(at if at.tzinfo else at.replace(tzinfo=timezone.utc), case_id)

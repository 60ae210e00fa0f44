"""A prior-authorization request (Da Vinci PAS): what a payer's pipeline asks a
qualified specialist to decide, item by item. Pure values, no I/O.

Each requested service is one item the decision answers (X12 review action per
item). Items are told apart by their sequence and, where a submitter repeats a
sequence (public examples do), by their trace number.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime

from secondlook.edge import text_problem
from secondlook.validation import Checks, Violation

# How a requested service is coded: CPT and HCPCS procedure codes, or an X12
# service type code (element 1365, e.g. "3" Consultation) when no procedure is named.
CPT, HCPCS, X12_SERVICE_TYPE = "CPT", "HCPCS", "X12-1365"


@dataclass(frozen=True)
class RequestedService:
    sequence: int
    system: str  # CPT, HCPCS or X12_SERVICE_TYPE
    code: str
    quantity: float = 1.0
    unit: str = ""  # UCUM, e.g. "{visit}"
    trace_number: str = ""  # the submitter's itemTraceNumber

    @property
    def key(self) -> str:
        """How the decision names this item."""
        return f"{self.sequence}:{self.trace_number}" if self.trace_number else str(self.sequence)


@dataclass(frozen=True)
class Party:
    """A requesting provider, or the payer: a name and an identifier."""
    name: str = ""
    npi: str = ""  # only a valid NPI (check digit); anything else is in `identifier`
    identifier: str = ""  # the identifier as sent, when it is not a valid NPI


@dataclass(frozen=True)
class PriorAuthRequest:
    submission_id: str  # the submitter's transaction identifier (Bundle.identifier): the idempotency key
    claim_identifier: str  # the submitter's trace number of the request (Claim.identifier)
    expedited: bool  # CMS-0057-F: 72 hours, else 7 calendar days
    diagnoses: tuple[str, ...]  # ICD-10-CM, the primary first
    items: tuple[RequestedService, ...]
    member_id: str
    plan: str
    payer: Party
    requesting_provider: Party  # the practitioner who asks (care team), else the provider organisation
    requesting_organization: Party
    jurisdiction: str  # ISO 3166-2, where the patient is: the reviewer's licence must cover it
    patient_family_name: str
    patient_given_names: tuple[str, ...]
    patient_birth_date: str  # may be empty: public examples carry none
    patient_sex: str
    claim_type: str = "professional"  # FHIR claim-type: professional, institutional, ...


MAX_NAME_CHARS = 200
MAX_IDENTIFIER_CHARS = 64
_FHIR_DATE = re.compile(r"^(\d{4})(-(\d{2})(-(\d{2}))?)?$")
# FHIR administrative gender, as intake_pb2.AdministrativeSex numbers it.
SEX = {"male": 1, "female": 2, "other": 3, "unknown": 4}


def _texts(r: PriorAuthRequest) -> list[tuple[str, str, int]]:
    """(field, value, limit) of every text the request carries."""
    out = [("submission_id", r.submission_id, MAX_IDENTIFIER_CHARS),
           ("claim_identifier", r.claim_identifier, MAX_IDENTIFIER_CHARS),
           ("member_id", r.member_id, MAX_IDENTIFIER_CHARS), ("plan", r.plan, MAX_NAME_CHARS),
           ("patient.family_name", r.patient_family_name, MAX_NAME_CHARS), ("claim_type", r.claim_type, 32)]
    out += [(f"patient.given_names[{i}]", g, MAX_NAME_CHARS) for i, g in enumerate(r.patient_given_names)]
    for name, party in (("payer", r.payer), ("requesting_provider", r.requesting_provider),
                        ("requesting_organization", r.requesting_organization)):
        out += [(f"{name}.name", party.name, MAX_NAME_CHARS), (f"{name}.identifier", party.identifier,
                                                               MAX_IDENTIFIER_CHARS)]
    for i, item in enumerate(r.items):
        out += [(f"items[{i}].unit", item.unit, 32), (f"items[{i}].trace_number", item.trace_number,
                                                      MAX_IDENTIFIER_CHARS)]
    return out


def violations(r: PriorAuthRequest, today: date) -> list[Violation]:
    """What the FHIR reading leaves to the platform's text rules: lengths, printable
    text, a plausible birth date. Paths are the PriorAuthRequest message's."""
    c = Checks()
    for path, value, limit in _texts(r):
        c.text(path, value, limit)
        if (problem := text_problem(value, prose=False)) is not None:
            c.add(path, problem)
    if r.patient_birth_date:
        match = _FHIR_DATE.match(r.patient_birth_date)
        try:
            born = date(int(match.group(1)), int(match.group(3) or 1), int(match.group(5) or 1)) if match else None
        except ValueError:
            born = None
        if born is None or born > today or born.year < today.year - 130:
            c.add("patient.birth_date", "must be a plausible FHIR date in the past (YYYY, YYYY-MM or YYYY-MM-DD)")
    if r.patient_sex and r.patient_sex not in SEX:
        c.add("patient.sex", "must be male, female, other or unknown")
    return c.violations


def fingerprint(r: PriorAuthRequest) -> str:
    """Of what the request asks: a resubmission under its transaction id must repeat it."""
    return hashlib.sha256(json.dumps(asdict(r), sort_keys=True).encode()).hexdigest()


_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,120}$")


PAS_KEY_PREFIX = "pas:"


def request_key(submission_id: str) -> str:
    """The case's idempotency key (client_request_id): the submitter's transaction id
    under a prefix of its own, hashed when it is not of the key's alphabet."""
    if _KEY.match(submission_id):
        return PAS_KEY_PREFIX + submission_id
    return PAS_KEY_PREFIX + "sha256:" + hashlib.sha256(submission_id.encode()).hexdigest()[:40]


def from_dict(d: dict) -> PriorAuthRequest:
    """The request as `asdict` wrote it (a stored case's sealed content)."""
    return PriorAuthRequest(**{
        **d, "diagnoses": tuple(d["diagnoses"]), "items": tuple(RequestedService(**i) for i in d["items"]),
        "payer": Party(**d["payer"]), "requesting_provider": Party(**d["requesting_provider"]),
        "requesting_organization": Party(**d["requesting_organization"]),
        "patient_given_names": tuple(d["patient_given_names"]),
    })


# The X12 review action (element 306) of each decided action (case_pb2.ItemAction).
REVIEW_ACTION = {1: "A1", 2: "A6", 3: "A3", 4: "A4"}
MAX_DECISION_TEXT = 2000


@dataclass(frozen=True)
class DecidedItem:
    """A reviewer's decision on one item (review checked the rules; intake keeps it)."""
    key: str
    action: int  # case_pb2.ItemAction: 1 APPROVE, 2 MODIFY, 3 DENY
    reason_code: str = ""
    provider_text: str = ""
    patient_text: str = ""
    approved_quantity: float = 0.0
    approved_code: str = ""


@dataclass(frozen=True)
class Decision:
    decision_id: str
    specialist_id: str
    items: tuple[DecidedItem, ...]
    decided_at: datetime
    amendment_reason: str = ""  # set when it amends the decision before it


def decision_violations(request: PriorAuthRequest, items: list[DecidedItem],
                        amendment_reason: str = "") -> list[Violation]:
    """What intake checks of a decision it is asked to keep: one final action for each
    of the request's items, and text it can keep (review applied the reviewer rules)."""
    c = Checks()
    keys = [i.key for i in request.items]
    for n, item in enumerate(items):
        path = f"decisions[{n}]"
        if item.key not in keys:
            c.add(f"{path}.item_key", "is not an item of the request")
        if item.action not in (1, 2, 3):
            c.add(f"{path}.action", "must be APPROVE, MODIFY or DENY: a pended item is not a decision")
        if item.action != 2 and (item.approved_quantity or item.approved_code):
            c.add(f"{path}.approved_quantity", "is for a modification only")
        elif not (0 <= item.approved_quantity < math.inf):
            c.add(f"{path}.approved_quantity", "must be a finite number above 0")
        for name, text in (("provider_text", item.provider_text), ("patient_text", item.patient_text),
                           ("reason_code", item.reason_code), ("approved_code", item.approved_code)):
            c.text(f"{path}.{name}", text, MAX_DECISION_TEXT)
            if (problem := text_problem(text, prose=name.endswith("_text"))) is not None:
                c.add(f"{path}.{name}", problem)
    c.text("amendment_reason", amendment_reason, MAX_DECISION_TEXT)
    if (problem := text_problem(amendment_reason, prose=True)) is not None:
        c.add("amendment_reason", problem)
    if sorted(i.key for i in items) != sorted(keys):
        c.add("decisions", "must decide every item of the request once")
    return c.violations

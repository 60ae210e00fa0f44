"""What a valid SubmitCase request is. Returns every violation at once, each as
(field path, rule), so a client can fix its request in one go."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import simple_icd_10_cm as icd

from secondlook.v1.case_pb2 import Urgency
from secondlook.v1.intake_pb2 import SubmitCaseRequest

# Licensure is by US state: the subdivisions a US specialist can hold a licence in.
US_JURISDICTIONS = frozenset(
    "US-" + s
    for s in (
        "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
        "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI"
    ).split()
)

_BCP47 = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# ISO 8601 calendar dates, extended (1970-01-01) or basic (19700101, as HL7 v2
# sends them); week and ordinal dates are refused rather than guessed at.
_CALENDAR_DATE = re.compile(r"^([0-9]{4})-?([0-9]{2})-?([0-9]{2})$")
CONSENT_CLOCK_SKEW = timedelta(minutes=5)
CONSENT_MAX_AGE = timedelta(days=5 * 366)
MAX_TREATMENT_CHARS = 4000
MAX_NAME_CHARS = 200

Violation = tuple[str, str]


@dataclass(frozen=True)
class ValidSubmission:
    client_request_id: str
    diagnosis_code: str  # normalised, with the dot
    urgency: int
    jurisdiction: str
    language: str
    given_name: str
    family_name: str
    birth_date: str  # normalised, YYYY-MM-DD
    consent_granted_at: datetime
    proposed_treatment: str
    fingerprint: str  # of the request as sent: a repeat of the key must repeat the content


def parse_calendar_date(value: str) -> date | None:
    match = _CALENDAR_DATE.match(value)
    if match is None or "-" in value and value.count("-") != 2:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def normalise_icd10(code: str) -> str | None:
    code = code.strip().upper()
    if not code or not icd.is_valid_item(code) or icd.is_chapter_or_block(code):
        return None
    return icd.add_dot(icd.remove_dot(code))


def validate(req: SubmitCaseRequest, now: datetime) -> tuple[ValidSubmission | None, list[Violation]]:
    """`now` is timezone-aware; control characters were refused at the gRPC edge."""
    today = now.date()
    v: list[Violation] = []
    born: date | None = None

    if not req.client_request_id:
        v.append(("client_request_id", "is required (the idempotency key of this submission)"))
    elif not _REQUEST_ID.match(req.client_request_id):
        v.append(("client_request_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"))

    if not req.HasField("patient"):
        v.append(("patient", "is required"))
    else:
        for name in ("given_name", "family_name"):
            value = getattr(req.patient, name).strip()
            if not value:
                v.append((f"patient.{name}", "is required"))
            elif len(value) > MAX_NAME_CHARS:
                v.append((f"patient.{name}", f"must be at most {MAX_NAME_CHARS} characters"))
        if not req.patient.birth_date:
            v.append(("patient.birth_date", "is required (YYYY-MM-DD)"))
        else:
            born = parse_calendar_date(req.patient.birth_date)
            if born is None:
                v.append(("patient.birth_date", "must be an ISO 8601 calendar date, YYYY-MM-DD"))
            elif born > today or born.year < today.year - 130:
                v.append(("patient.birth_date", "must be a plausible date in the past"))

    diagnosis = normalise_icd10(req.diagnosis_code)
    if not req.diagnosis_code:
        v.append(("diagnosis_code", "is required (an ICD-10-CM code)"))
    elif diagnosis is None:
        v.append(("diagnosis_code", f"{req.diagnosis_code[:20]!r} is not an ICD-10-CM category or code"))

    treatment = req.proposed_treatment.strip()
    if not treatment:
        v.append(("proposed_treatment", "is required (the first opinion's proposed treatment)"))
    elif len(treatment) > MAX_TREATMENT_CHARS:
        v.append(("proposed_treatment", f"must be at most {MAX_TREATMENT_CHARS} characters"))

    if req.urgency not in (Urgency.URGENCY_STANDARD, Urgency.URGENCY_EXPEDITED):
        v.append(("urgency", "must be URGENCY_STANDARD or URGENCY_EXPEDITED"))

    if not req.jurisdiction:
        v.append(("jurisdiction", "is required (ISO 3166-2 subdivision, e.g. US-CA)"))
    elif req.jurisdiction not in US_JURISDICTIONS:
        v.append(("jurisdiction", f"{req.jurisdiction[:20]!r} is not a US ISO 3166-2 subdivision such as US-CA"))

    if not req.language:
        v.append(("language", "is required (BCP-47 tag, e.g. en or es-MX)"))
    elif not _BCP47.match(req.language):
        v.append(("language", f"{req.language[:20]!r} is not a BCP-47 language tag such as en or es-MX"))

    if not req.HasField("consent") or not req.consent.granted:
        v.append(("consent.granted", "must be true: a case needs the patient's consent to review"))
    elif not req.consent.HasField("granted_at"):
        v.append(("consent.granted_at", "is required when consent is granted"))
    else:
        try:
            granted_at = req.consent.granted_at.ToDatetime(tzinfo=timezone.utc)
        except (ValueError, OverflowError):
            granted_at = None
        if granted_at is None or not now - CONSENT_MAX_AGE <= granted_at <= now + CONSENT_CLOCK_SKEW:
            v.append(("consent.granted_at", "must be a time in the last 5 years, not in the future"))

    if v:
        return None, v
    return (
        ValidSubmission(
            client_request_id=req.client_request_id,
            diagnosis_code=diagnosis or "",
            urgency=req.urgency,
            jurisdiction=req.jurisdiction,
            language=req.language,
            given_name=req.patient.given_name.strip(),
            family_name=req.patient.family_name.strip(),
            birth_date=born.isoformat() if born else "",
            consent_granted_at=req.consent.granted_at.ToDatetime(tzinfo=timezone.utc),
            proposed_treatment=treatment,
            fingerprint=hashlib.sha256(req.SerializeToString(deterministic=True)).hexdigest(),
        ),
        [],
    )

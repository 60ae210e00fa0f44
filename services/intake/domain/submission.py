"""What a valid SubmitCase request is. Returns every violation at once, each as
(field path, rule), so a client can fix its request in one go; the paths are the
request's own (`first_opinion.physician.npi`, `attachments[2].uri`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit

from secondlook.addresses import internal_host_problem
from secondlook.codes import jurisdiction_problem, language_problem, normalise_procedure, procedure_code_problem
from secondlook.v1 import intake_pb2
from secondlook.v1.case_pb2 import CaseKind, Urgency
from secondlook.v1.intake_pb2 import SubmitCaseRequest
from secondlook.validation import Checks, Violation

from .content import Attachment, Consent, Diagnosis, FirstOpinion, Identifier, Patient, ProcedureCode
from .priorauth import CPT, HCPCS, PAS_KEY_PREFIX, SEX, PriorAuthRequest, fingerprint, request_key
from .priorauth import violations as prior_auth_violations

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# ISO 8601 calendar dates, extended (1970-01-01) or basic (19700101, as HL7 v2
# sends them); week and ordinal dates are refused rather than guessed at.
_CALENDAR_DATE = re.compile(r"^([0-9]{4})-?([0-9]{2})-?([0-9]{2})$")
_NOT_IN_URIS = re.compile(r'[^\x21-\x7e]|[<>"{}|\\^`]')  # RFC 3986: never in a URI unencoded (non-ASCII too)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$")
IDENTIFIER_SYSTEM = re.compile(r"^(urn:oid:[0-2](\.[0-9]+)+|urn:uuid:[0-9a-fA-F-]{36}|https?://[^\s]+)$")
_IDENTIFIER_TYPE = re.compile(r"^[A-Z0-9]{1,5}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")

CONSENT_CLOCK_SKEW = timedelta(minutes=5)
CONSENT_MAX_AGE = timedelta(days=5 * 366)
MAX_TEXT_CHARS = 4000  # treatment, rationale, clinical question
MAX_NAME_CHARS = 200
MAX_DIAGNOSIS_TEXT_CHARS = 500
MAX_SECONDARY_DIAGNOSES = 10
MAX_IDENTIFIERS = 10
MAX_OTHER_GIVEN_NAMES = 5
MAX_PROCEDURE_CODES = 20
MAX_ATTACHMENTS = 50
MAX_ATTACHMENT_BYTES = 5 * 1024**3  # a CT study by reference; the bytes never pass through intake
MAX_URI_CHARS = 2048
MAX_IDENTIFIER_SYSTEM_CHARS = 255
# What a reviewer's workstation opens: documents, images, DICOM, FHIR and CDA records.
MEDIA_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/tiff", "application/dicom", "text/plain",
    "application/fhir+json", "application/fhir+xml", "application/hl7-v3+xml", "text/xml",
})



@dataclass(frozen=True)
class ValidSubmission:
    client_request_id: str
    kind: int
    diagnosis: Diagnosis  # the primary one, code normalised
    secondary_diagnoses: tuple[Diagnosis, ...]
    urgency: int
    jurisdiction: str
    language: str
    patient: Patient
    first_opinion: FirstOpinion
    clinical_question: str
    attachments: tuple[Attachment, ...]
    consent: Consent
    panel_requested: bool
    blind_review_requested: bool
    fingerprint: str  # of the request as sent: a repeat of the key must repeat the content
    prior_auth: PriorAuthRequest | None = None  # kind PRIOR_AUTH: what the payer's request asks
    client_request_system: str = ""  # who assigned client_request_id: the key is the pair
    # Of what the request says once validated (content_fingerprint): a repeat spelled
    # otherwise is the same request too. Empty where there is none (a PAS request).
    content_fingerprint: str = ""


CONTENT_FINGERPRINT_VERSION = "v1"  # a change to what it covers is a new version, never a silent change


def content_fingerprint(valid: ValidSubmission) -> str:
    """The SHA-256 of what the submission says once validated and normalised: a repeat
    of a key is the same request when it would store the same case, however it was
    spelled ("c50.911" or "C50.911", a phone formatted or not, a field the proto added
    later that this version ignores, a kind left unset or set to its default). Kept
    beside the request's own fingerprint, which still decides alone for a case from
    before it (or from a version whose normal form differed)."""
    content = dataclasses.asdict(dataclasses.replace(valid, fingerprint="", content_fingerprint=""))
    canonical = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return f"{CONTENT_FINGERPRINT_VERSION}:" + hashlib.sha256(canonical.encode()).hexdigest()


def latest_date(now: datetime) -> date:
    """The latest calendar date anywhere at `now` (UTC+14, Kiribati's): a birth date
    is in the future only after it. A child born today in Sydney is born "tomorrow"
    by the UTC date for ten hours of every day."""
    return (now + timedelta(hours=14)).date()


def parse_calendar_date(value: str) -> date | None:
    match = _CALENDAR_DATE.match(value)
    if match is None or "-" in value and value.count("-") != 2:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def validate(req: SubmitCaseRequest, now: datetime) -> tuple[ValidSubmission | None, list[Violation]]:
    """`now` is timezone-aware; control characters were refused at the gRPC edge."""
    c = Checks()
    if not req.client_request_id:
        c.add("client_request_id", "is required (the idempotency key of this submission)")
    elif not _REQUEST_ID.match(req.client_request_id):
        c.add("client_request_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    elif req.client_request_id.startswith(PAS_KEY_PREFIX):
        # A PAS request's key is its transaction id under this prefix (request_key).
        c.add("client_request_id", f"must not begin with {PAS_KEY_PREFIX!r}: the keys of prior-authorization "
                                   "requests ($submit) begin so")
    request_system = req.client_request_system  # a space in it is not stripped but refused: it is no URI
    if problem := _system_problem(request_system):
        c.add("client_request_system", problem)

    kind = req.kind or CaseKind.CASE_KIND_SECOND_OPINION
    if kind == CaseKind.CASE_KIND_PRIOR_AUTH:
        c.add("kind", "PRIOR_AUTH requests arrive through the prior-authorization endpoint, not SubmitCase")
    elif kind != CaseKind.CASE_KIND_SECOND_OPINION:
        c.add("kind", "must be CASE_KIND_SECOND_OPINION")

    jurisdiction, problem = jurisdiction_problem(req.jurisdiction)
    patient = _patient(c, req, latest_date(now), region=jurisdiction.split("-")[0] if jurisdiction else None)
    primary = Diagnosis(c.icd10("diagnosis_code", req.diagnosis_code, required=True),
                        c.text("diagnosis_text", req.diagnosis_text, MAX_DIAGNOSIS_TEXT_CHARS))
    secondary = _secondary(c, req, primary.code)
    first_opinion = _first_opinion(c, req, primary)
    question = c.text("clinical_question", req.clinical_question, MAX_TEXT_CHARS,
                      required="what the patient or physician asks the reviewer")

    if req.urgency not in (Urgency.URGENCY_STANDARD, Urgency.URGENCY_EXPEDITED):
        c.add("urgency", "must be URGENCY_STANDARD or URGENCY_EXPEDITED")

    if problem:
        c.add("jurisdiction", problem)

    language = req.language
    if not language:
        c.add("language", "is required (the patient's preferred language, BCP-47, e.g. en or es-MX)")
    else:
        language, problem = language_problem(language)
        if problem:
            c.add("language", problem)

    attachments = _attachments(c, req)
    consent = _consent(c, req, now)

    if c.violations:
        return None, c.violations
    valid = ValidSubmission(
        client_request_id=req.client_request_id, kind=kind, diagnosis=primary, secondary_diagnoses=secondary,
        urgency=req.urgency, jurisdiction=jurisdiction, language=language, patient=patient,
        first_opinion=first_opinion, clinical_question=question, attachments=attachments, consent=consent,
        panel_requested=req.panel_requested, blind_review_requested=req.blind_review_requested,
        fingerprint=hashlib.sha256(req.SerializeToString(deterministic=True)).hexdigest(),
        client_request_system=request_system,
    )
    return dataclasses.replace(valid, content_fingerprint=content_fingerprint(valid)), []


# Letters that show as nothing: the Hangul fillers.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def _has_a_letter(name: str) -> bool:
    return any(ch.isalnum() and ch not in _BLANK_LETTERS for ch in name)


def _patient(c: Checks, req: SubmitCaseRequest, today: date, *, region: str | None) -> Patient:
    if not req.HasField("patient"):
        c.add("patient", "is required")
        return Patient("", "", "")
    p = req.patient
    # A person may have one name only (Indonesian and other naming traditions): either
    # part will do, both absent is no name.
    given = c.text("patient.given_name", p.given_name, MAX_NAME_CHARS)
    family = c.text("patient.family_name", p.family_name, MAX_NAME_CHARS,
                    required=None if given else "the patient's name: a family name, a given name, or both")
    for path, name in (("patient.given_name", given), ("patient.family_name", family)):
        if name and not _has_a_letter(name):  # "\u0301" alone, a Hangul filler: a name nobody can read
            c.add(path, "must contain a letter or a digit (not marks or blank-looking characters alone)")
    others = tuple(c.text(f"patient.other_given_names[{i}]", n, MAX_NAME_CHARS, required="or leave the entry out")
                   for i, n in enumerate(c.most("patient.other_given_names", p.other_given_names,
                                                MAX_OTHER_GIVEN_NAMES)))
    born = None
    if not p.birth_date:
        c.add("patient.birth_date", "is required (YYYY-MM-DD)")
    else:
        born = parse_calendar_date(p.birth_date)
        if born is None:
            c.add("patient.birth_date", "must be an ISO 8601 calendar date, YYYY-MM-DD")
        elif born > today or born.year < today.year - 130:
            c.add("patient.birth_date", "must be a plausible date in the past")
    if p.sex not in intake_pb2.AdministrativeSex.values():
        c.add("patient.sex", "must be one of the ADMINISTRATIVE_SEX_ values")
    identifiers, seen = [], set()
    for i, ident in enumerate(c.most("patient.identifiers", p.identifiers, MAX_IDENTIFIERS)):
        path = f"patient.identifiers[{i}]"
        if not IDENTIFIER_SYSTEM.match(ident.system) or len(ident.system) > MAX_IDENTIFIER_SYSTEM_CHARS:
            c.add(f"{path}.system", "must be the assigner's URI: urn:oid:..., urn:uuid:... or http(s)://...")
        value = c.text(f"{path}.value", ident.value, 64, required="the identifier itself")
        if ident.type and not _IDENTIFIER_TYPE.match(ident.type):
            c.add(f"{path}.type", "must be an HL7 v2 identifier type code such as MR")
        identifier = Identifier(ident.system, value, ident.type)
        if identifier in seen:
            c.add(path, "repeats an identifier given before")
        seen.add(identifier)
        identifiers.append(identifier)
    email = c.email("patient.email", p.email)
    phone = c.phone("patient.phone", p.phone, region=region)
    return Patient(given, family, born.isoformat() if born else "", others, p.sex, tuple(identifiers), email, phone)


def _secondary(c: Checks, req: SubmitCaseRequest, primary: str) -> tuple[Diagnosis, ...]:
    seen = {primary}
    out = []
    for i, d in enumerate(c.most("secondary_diagnoses", req.secondary_diagnoses, MAX_SECONDARY_DIAGNOSES)):
        code = c.icd10(f"secondary_diagnoses[{i}].code", d.code, required=True)
        text = c.text(f"secondary_diagnoses[{i}].text", d.text, MAX_DIAGNOSIS_TEXT_CHARS)
        if code and code in seen:
            c.add(f"secondary_diagnoses[{i}].code", f"{code} is given before (as the primary or a secondary diagnosis)")
        seen.add(code)
        out.append(Diagnosis(code, text))
    return tuple(out)


def _first_opinion(c: Checks, req: SubmitCaseRequest, primary: Diagnosis) -> FirstOpinion:
    if not req.HasField("first_opinion"):
        c.add("first_opinion", "is required (the opinion under review: physician, organisation, treatment)")
        return FirstOpinion("", "", "", "", "", primary, (), "")
    f = req.first_opinion
    if not f.HasField("physician"):
        c.add("first_opinion.physician", "is required (who gave the first opinion)")
    npi = c.npi("first_opinion.physician.npi", f.physician.npi, required=f.HasField("physician"))
    given = family = email = ""
    if f.HasField("physician"):
        email = c.email("first_opinion.physician.email", f.physician.email)
        # One name only is a name, as for a patient (the NPI names the physician surely).
        given = c.text("first_opinion.physician.given_name", f.physician.given_name, MAX_NAME_CHARS)
        family = c.text("first_opinion.physician.family_name", f.physician.family_name, MAX_NAME_CHARS,
                        required=None if given else "the physician's name: a family name, a given name, or both")
    org = c.text("first_opinion.organization.name", f.organization.name, MAX_NAME_CHARS,
                 required="where the first opinion was given")
    org_npi = c.npi("first_opinion.organization.npi", f.organization.npi, required=False)
    diagnosis = primary
    if f.HasField("diagnosis"):
        diagnosis = Diagnosis(c.icd10("first_opinion.diagnosis.code", f.diagnosis.code, required=True),
                              c.text("first_opinion.diagnosis.text", f.diagnosis.text, MAX_DIAGNOSIS_TEXT_CHARS))
    treatment = f.proposed_treatment
    codes = []
    for i, code in enumerate(c.most("first_opinion.proposed_treatment.codes", treatment.codes, MAX_PROCEDURE_CODES)):
        system, value = normalise_procedure(code.system, code.code)
        problem = procedure_code_problem(system, value)
        if problem:
            c.add(f"first_opinion.proposed_treatment.codes[{i}].{problem[0]}", problem[1])
        display = c.text(f"first_opinion.proposed_treatment.codes[{i}].display", code.display, MAX_NAME_CHARS)
        codes.append(ProcedureCode(system, value, display))
    text = c.text("first_opinion.proposed_treatment.text", treatment.text, MAX_TEXT_CHARS)
    legacy = req.proposed_treatment.strip()  # the field before first_opinion existed
    if legacy and text and legacy != text:
        c.add("proposed_treatment", "is deprecated and differs from first_opinion.proposed_treatment.text: "
                                    "send the latter only")
    elif legacy and not text:
        text = c.text("proposed_treatment", legacy, MAX_TEXT_CHARS)
    if not codes and not text:
        c.add("first_opinion.proposed_treatment", "needs CPT/HCPCS codes, text, or both")
    rationale = c.text("first_opinion.rationale", f.rationale, MAX_TEXT_CHARS)
    return FirstOpinion(npi, given, family, org, org_npi, diagnosis, tuple(codes), text, rationale, email)


def _attachments(c: Checks, req: SubmitCaseRequest) -> tuple[Attachment, ...]:
    return _attachment_list(c, req.attachments)


def validate_attachments(attachments) -> tuple[tuple[Attachment, ...], list[Violation]]:
    """Attachments added to a case later (AddDocuments), by the rules of a submission's."""
    c = Checks()
    valid = _attachment_list(c, attachments)
    return valid, c.violations


def _record_uri_problem(uri: str) -> str | None:
    """Why `uri` is not an https URI a reviewer's client fetches as written (RFC 3986), or
    None: one it would read otherwise, or not at all, names another record, or none."""
    if not uri:
        return "is required (where the reviewer fetches the record)"
    if len(uri) > MAX_URI_CHARS:
        return f"must be an https URI of at most {MAX_URI_CHARS} characters"
    if _NOT_IN_URIS.search(uri):
        return ("must be a URI: a space, a character beyond ASCII, or any of < > \" { } | \\ ^ `, is "
                "percent-encoded (%20 for a space)")
    if _BAD_ESCAPE.search(uri) or uri.count("#") > 1:
        return "must be a URI: '%' begins a two-digit hex escape (%25 for '%' itself), and '#' comes at most once"
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError past 65535
    except ValueError:  # an unclosed IPv6 bracket, a port that is none
        return "must be a URI: its host or port cannot be read"
    if parts.port == 0:
        return "must be a URI: port 0 is no port a record is fetched from"
    if parts.scheme != "https" or not host:
        return f"must be an https URI of at most {MAX_URI_CHARS} characters"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if problem := internal_host_problem(host):  # a reviewer's client, or portal, fetches it as sent
        return problem
    if "%" in parts.netloc or any(ch in parts.path + parts.query + parts.fragment for ch in "[]"):
        return "must be a URI: '%' is not in a host, and [ ] enclose an IPv6 host only"
    return None


def _attachment_list(c: Checks, attachments) -> tuple[Attachment, ...]:
    out = []
    for i, a in enumerate(c.most("attachments", attachments, MAX_ATTACHMENTS)):
        path = f"attachments[{i}]"
        if problem := _record_uri_problem(a.uri):
            c.add(f"{path}.uri", problem)
        media_type = a.media_type.split(";", 1)[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            c.add(f"{path}.media_type", f"must be one of {', '.join(sorted(MEDIA_TYPES))}")
        if not 0 < a.size_bytes <= MAX_ATTACHMENT_BYTES:
            c.add(f"{path}.size_bytes", f"must be between 1 and {MAX_ATTACHMENT_BYTES} bytes")
        if not _SHA256.match(a.sha256):
            c.add(f"{path}.sha256", "must be the content's SHA-256 as 64 hexadecimal digits")
        title = c.text(f"{path}.title", a.title, MAX_NAME_CHARS)
        out.append(Attachment(a.uri, media_type, a.size_bytes, a.sha256.lower(), title))
    # A record given twice (the same URI and SHA-256) is kept once, as AddDocuments skips
    # one the case holds: not shown twice to the reviewer, nor counted twice to the limit.
    # The same record said to be of another size or type is a contradiction, refused.
    first: dict[tuple[str, str], int] = {}
    for i, a in enumerate(out):
        j = first.setdefault((a.uri, a.sha256), i)
        if j != i and (a.size_bytes, a.media_type) != (out[j].size_bytes, out[j].media_type):
            c.add(f"attachments[{i}]", f"is attachments[{j}] again (the same URI and SHA-256) with another "
                                       "size or media type: give each record once")
    return tuple(a for i, a in enumerate(out) if first[(a.uri, a.sha256)] == i)


def _consent(c: Checks, req: SubmitCaseRequest, now: datetime) -> Consent:
    granted_at = now
    if not req.HasField("consent") or not req.consent.granted:
        c.add("consent.granted", "must be true: a case needs the patient's consent to review")
    elif not req.consent.HasField("granted_at"):
        c.add("consent.granted_at", "is required when consent is granted")
    else:
        try:
            granted_at = req.consent.granted_at.ToDatetime(tzinfo=timezone.utc)
        except (ValueError, OverflowError):
            granted_at = None
        if granted_at is None or not now - CONSENT_MAX_AGE <= granted_at <= now + CONSENT_CLOCK_SKEW:
            c.add("consent.granted_at", "must be a time in the last 5 years, not in the future")
    if req.consent.scope != intake_pb2.CONSENT_SCOPE_SECOND_OPINION_REVIEW:
        c.add("consent.scope", "must be CONSENT_SCOPE_SECOND_OPINION_REVIEW: what the patient agreed to")
    recorded_by = c.text("consent.recorded_by", req.consent.recorded_by, MAX_NAME_CHARS,
                         required="who recorded the consent")
    return Consent(granted_at or now, req.consent.scope, recorded_by)


# A prior-authorization request carries no language: its notices go out in this one.
PRIOR_AUTH_LANGUAGE = "en"


def _system_problem(system: str) -> str | None:
    """Why an idempotency key's system (empty: none) cannot be one, or None: any absolute
    URI (urn:ietf:rfc:3986 is a common Bundle.identifier system), ASCII, no spaces."""
    if system and (len(system) > MAX_IDENTIFIER_SYSTEM_CHARS or not _ABSOLUTE_URI.match(system)):
        return (f"must be the assigner's absolute URI (urn:oid:..., urn:ietf:rfc:3986, https://...) of at most "
                f"{MAX_IDENTIFIER_SYSTEM_CHARS} characters, or empty")
    return None


def validate_prior_auth(r: PriorAuthRequest, now: datetime, submission_system: str = ""
                        ) -> tuple[ValidSubmission | None, list[Violation]]:
    """A PAS request (read and checked against FHIR by services/intake/fhir/pas.py) as a
    PRIOR_AUTH submission. What a second opinion needs and a prior authorization does
    not is left empty: no consent (a payer's review is payment under HIPAA, not a use
    the patient agrees to), no question (the items are the question). The requesting
    provider stands where a second opinion's first opinion does: its NPIs and
    organisation screen reviewers for conflicts, its CPT/HCPCS items are the
    treatment proposed."""
    found = prior_auth_violations(r, latest_date(now))
    if problem := _system_problem(submission_system):
        found.append(("client_request_system", problem))
    jurisdiction, problem = jurisdiction_problem(r.jurisdiction)
    if problem:
        found.append(("jurisdiction", problem))
    if found:
        return None, found
    born = parse_calendar_date(r.patient_birth_date) if len(r.patient_birth_date) == 10 else None
    patient = Patient(given_name=" ".join(r.patient_given_names[:1]), family_name=r.patient_family_name,
                      birth_date=born.isoformat() if born else "", other_given_names=r.patient_given_names[1:],
                      sex=SEX.get(r.patient_sex, 0))
    primary, *secondary = (Diagnosis(code) for code in r.diagnoses)
    provider, organization = r.requesting_provider, r.requesting_organization
    first = FirstOpinion(
        physician_npi=provider.npi, physician_given_name="", physician_family_name="",
        organization_name=organization.name, organization_npi=organization.npi, diagnosis=primary,
        treatment_codes=tuple(ProcedureCode(i.system, i.code) for i in r.items if i.system in (CPT, HCPCS)),
        treatment_text="")
    return ValidSubmission(
        client_request_id=request_key(r.submission_id), kind=CaseKind.CASE_KIND_PRIOR_AUTH, diagnosis=primary,
        secondary_diagnoses=tuple(secondary),
        urgency=Urgency.URGENCY_EXPEDITED if r.expedited else Urgency.URGENCY_STANDARD, jurisdiction=jurisdiction,
        language=PRIOR_AUTH_LANGUAGE, patient=patient, first_opinion=first, clinical_question="", attachments=(),
        consent=Consent(now, intake_pb2.CONSENT_SCOPE_UNSPECIFIED, ""), panel_requested=False,
        blind_review_requested=False, fingerprint=fingerprint(r), prior_auth=r,
        client_request_system=submission_system,
    ), []

"""A second-opinion transaction Bundle as a SubmitCaseRequest, and where in the
bundle each field of the request came from (so that a rule the domain's
`validate` finds broken is reported at the element that broke it).

What a bundle holds and how it maps (FHIRPaths from its resource):

  Bundle.type                       transaction only: a request to act on, all or nothing
                                    (collection, batch, ... are refused)
  Bundle.entry.request              required by FHIR for a transaction: method POST or PUT,
                                    url starting with the entry's resourceType
  ServiceRequest (exactly one)      the second-opinion request; status active, intent order
    .identifier                     client_request_id and client_request_system (the idempotency
                                    key: value and system): the one of type
                                    PLAC (v2-0203), else the first. Bundle.identifier is not
                                    read: the placer's order number is what a resubmission repeats
    .priority                       urgency: routine -> STANDARD; urgent, asap, stat -> EXPEDITED;
                                    none given is routine (R4: "If missing, normal priority")
    .subject -> Patient             patient, language, jurisdiction
    .reasonReference -> Condition   diagnoses, in order: the first is the primary, the rest
    .reasonCode                     secondary (after the reasonReference ones); each needs an
                                    ICD-10-CM coding (http://hl7.org/fhir/sid/icd-10-cm)
    .note.text                      clinical_question (all notes, blank-line separated)
    .supportingInfo -> CarePlan     the first opinion (at most one), see below
    .supportingInfo -> DocumentReference  attachments (status current; every content.attachment)
    .supportingInfo -> Consent      consent (exactly one)
    .requester, .performer          not mapped: followed when they point into the bundle (so their
                                    entries are reached), let be when they point elsewhere
    .extension panel-requested / blind-review-requested (valueBoolean, vocabulary.py)
  Patient
    .name                           the official name (else the first not old/maiden): given[0],
                                    given[1:] as other given names, family
    .birthDate, .gender             birth_date (full date), sex
    .identifier                     identifiers: system, value, type from v2-0203 (MR: an MRN);
                                    none of use old, none without a system
    .telecom                        e-mail: the lowest rank not "old"; phone (for texts): sms, else a
                                    mobile, unlabelled or home phone (secondlook.fhir.contacts)
    .communication                  language: the preferred one, else the first (BCP-47 code)
    .address                        jurisdiction: country (ISO 3166 alpha-2/-3) and state (its
                                    code, e.g. CA, or name) make US-CA; home address preferred.
                                    No country: refused, not guessed (it decides who may review)
  CarePlan (the first opinion: the plan the first physician proposed)
    .author -> PractitionerRole     .practitioner -> Practitioner: NPI (identifier system
               (or Practitioner)    http://hl7.org/fhir/sid/us-npi) and name; .organization ->
                                    Organization: name, NPI; the e-mail (telecom) of the role,
                                    else of the practitioner
    .addresses[0] -> Condition      the first opinion's diagnosis, when not the primary one
    .activity.detail.code.coding    procedure codes: CPT (http://www.ama-assn.org/go/cpt),
                                    HCPCS (https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets;
                                    http too), or either's OID (vocabulary.PROCEDURE_SYSTEMS);
                                    codings of other systems are not read
    .description                    the proposed treatment as text
    .note.text                      the rationale
  DocumentReference.content.attachment  url, contentType, size, title (else the document's
                                    description); the SHA-256 (hex) from the Attachment extension
                                    vocabulary.EXT_SHA256. Attachment.hash (base64 SHA-1 in R4)
                                    is not read; inline data is refused (records go by reference)
  Consent                           granted: status active and provision.type not deny;
    .dateTime                       granted_at (a date alone is its first moment anywhere:
                                    00:00 at UTC+14);
    .category                       scope: the coding consent-category|second-opinion-review
                                    (vocabulary.py); a consent for something else is not one for this
    .performer[0]                   recorded_by: its display, identifier value or reference
                                    (R4 Consent has no "recorder")

Condition.subject, CarePlan.subject, DocumentReference.subject and Consent.patient
must be the ServiceRequest's subject: one patient's records never join another's
case. Every entry must be reached from the ServiceRequest by these references:
an entry nothing reads is refused rather than silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pycountry

from secondlook.fhir import contacts
from secondlook.fhir.problems import INVALID, NOT_SUPPORTED, REQUIRED, VALUE, Problem
from secondlook.fhir.references import BundleIndex, Entry, Resolver
from secondlook.v1 import intake_pb2
from secondlook.v1.case_pb2 import CaseKind, Urgency

from . import vocabulary as v

ACCEPTED_TYPES = frozenset({"ServiceRequest", "Patient", "Condition", "CarePlan", "Practitioner", "PractitionerRole",
                            "Organization", "DocumentReference", "Consent"})
URGENCY = {"routine": Urgency.URGENCY_STANDARD, "urgent": Urgency.URGENCY_EXPEDITED,
           "asap": Urgency.URGENCY_EXPEDITED, "stat": Urgency.URGENCY_EXPEDITED}
SEX = {"male": intake_pb2.ADMINISTRATIVE_SEX_MALE, "female": intake_pb2.ADMINISTRATIVE_SEX_FEMALE,
       "other": intake_pb2.ADMINISTRATIVE_SEX_OTHER, "unknown": intake_pb2.ADMINISTRATIVE_SEX_UNKNOWN}
_EARLIEST_ZONE = timezone(timedelta(hours=14))  # where each calendar date begins first
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$")


def _list(node: dict | None, key: str) -> list:
    value = (node or {}).get(key)
    return value if isinstance(value, list) else []


def _str(node: dict | None, key: str) -> str:
    value = (node or {}).get(key)
    return value if isinstance(value, str) else ""


@dataclass
class Translation:
    request: intake_pb2.SubmitCaseRequest
    # Proto field path (as validate() names it) -> FHIRPath of the element it came from.
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Proto paths a problem above already explains: validate's violation on them adds nothing.
    reported: set[str] = field(default_factory=set)
    fallback: str = "Bundle"
    mapped: bool = False  # False: no ServiceRequest to read, so no request fields to speak of
    bundle: dict = field(default_factory=dict)  # as read: what the transaction-response answers entry by entry

    def locate(self, proto_path: str) -> str:
        """The FHIRPath of the element a field came from: its own, else its nearest
        ancestor's, else the ServiceRequest's."""
        path = proto_path
        while path:
            if path in self.sources:
                return self.sources[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.fallback


class _Builder:
    def __init__(self, bundle: dict, today: date):
        self.today = today
        self.index = BundleIndex(bundle)
        self.resolve = Resolver(self.index)
        self.t = Translation(intake_pb2.SubmitCaseRequest(kind=CaseKind.CASE_KIND_SECOND_OPINION))
        self.req = self.t.request
        self.patient: Entry | None = None
        self.primary_condition: Entry | None = None  # a first opinion naming it adds no diagnosis

    def problem(self, path: str, rule: str, code: str = INVALID, *, explains: str = "") -> None:
        self.t.problems.append(Problem(path, rule, code))
        if explains:
            self.t.reported.add(explains)

    def source(self, proto_path: str, fhirpath: str) -> None:
        self.t.sources[proto_path] = fhirpath

    def same_patient(self, reference: object, path: str, entry: Entry) -> None:
        self.is_the_patient(self.resolve.follow(reference, path, entry, ("Patient",)), path)

    def is_the_patient(self, target: Entry | None, path: str) -> None:
        """A Patient a reference at `path` reached must be the case's: one patient's
        records never join another's case."""
        if target is not None and target.type == "Patient" and self.patient is not None and \
                target.key != self.patient.key:
            self.problem(f"{path}.reference", "must be the ServiceRequest's subject: records of one patient "
                                              "never join another's case")


def translate(bundle: dict, *, today: date) -> Translation:
    """The request and its sources; `problems` are what the bundle breaks that only
    FHIR can say (references, types, codes): the domain's rules run on the request.
    `today` tells the addresses still in use."""
    b = _Builder(bundle, today)
    b.t.bundle = bundle
    if bundle.get("type") != "transaction":
        b.problem("Bundle.type", "must be transaction: the case is created from the whole bundle or not at all",
                  VALUE)
    b.t.problems.extend(b.index.problems)
    for entry in b.index.entries:
        _check_entry(b, bundle["entry"][entry.index], entry)
    requests = b.index.of_type("ServiceRequest")
    if len(requests) != 1:
        b.problem("Bundle.entry", "must hold exactly one ServiceRequest, the second-opinion request "
                                  f"(found {len(requests)})", REQUIRED if not requests else INVALID)
        return b.t
    _service_request(b, requests[0])
    for entry in b.index.entries:
        if entry.index not in b.resolve.reached and entry.type in ACCEPTED_TYPES:
            b.problem(f"Bundle.entry[{entry.index}]", "is not reached from the ServiceRequest (subject, "
                                                      "reasonReference, supportingInfo and theirs): nothing would read it")
    b.t.problems.extend(b.resolve.problems)
    return b.t


def _check_entry(b: _Builder, raw: dict, entry: Entry) -> None:
    path = f"Bundle.entry[{entry.index}]"
    if not entry.resource:
        b.problem(f"{path}.resource", "is required: each entry of the transaction carries a resource", REQUIRED)
        return
    if entry.type not in ACCEPTED_TYPES:
        b.problem(f"{entry.path}.resourceType", f"{entry.type} is not part of a second-opinion bundle (one of "
                                                f"{', '.join(sorted(ACCEPTED_TYPES))})", NOT_SUPPORTED)
    request = raw.get("request") or {}
    if not request:
        b.problem(f"{path}.request", "is required in a transaction entry: method POST and url the resource type",
                  REQUIRED)
    elif request.get("method") not in ("POST", "PUT") or _str(request, "url").split("/")[0].split("?")[0] \
            != entry.type:
        b.problem(f"{path}.request", f"must be method POST (or PUT) with a url naming {entry.type}")


# Who a reference nothing is read through may name (a requester, a performer): people and
# organisations, never a record (a DocumentReference there would be dropped unread).
PEOPLE = ("Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson")


def _service_request(b: _Builder, sr: Entry) -> None:
    res, p = sr.resource, sr.path
    b.resolve.reached.add(sr.index)
    b.t.fallback, b.t.mapped = p, True
    if res.get("status") != "active":
        b.problem(f"{p}.status", "must be active: a request still to be acted on", VALUE)
    if res.get("intent") not in ("order", "original-order"):
        b.problem(f"{p}.intent", "must be order: the request for a second opinion", VALUE)
    _request_id(b, sr)
    priority = _str(res, "priority") or "routine"
    b.source("urgency", f"{p}.priority")
    if priority in URGENCY:
        b.req.urgency = URGENCY[priority]
    elif priority:
        b.problem(f"{p}.priority", "must be routine, urgent, asap or stat", VALUE, explains="urgency")
    b.source("patient", f"{p}.subject")
    b.patient = b.resolve.follow(res.get("subject"), f"{p}.subject", sr, ("Patient",))
    if b.patient is not None:
        _patient(b, b.patient)
    else:
        b.t.reported.update({"patient", "jurisdiction", "language"})
    _diagnoses(b, sr)
    notes = [(i, _str(n, "text")) for i, n in enumerate(_list(res, "note"))]
    b.req.clinical_question = "\n\n".join(text for _, text in notes if text)
    b.source("clinical_question", f"{p}.note[0].text" if notes else f"{p}.note")
    for url, name in ((v.EXT_PANEL, "panel_requested"), (v.EXT_BLIND, "blind_review_requested")):
        for i, ext in enumerate(_list(res, "extension")):
            if ext.get("url") == url:
                if not isinstance(ext.get("valueBoolean"), bool):
                    b.problem(f"{p}.extension[{i}]", "must carry valueBoolean", VALUE)
                else:
                    setattr(b.req, name, ext["valueBoolean"])
    for key in ("requester", "performer"):
        refs = res.get(key)
        for i, ref in enumerate(refs if isinstance(refs, list) else [refs] if refs else []):
            path = f"{p}.{key}" + (f"[{i}]" if isinstance(refs, list) else "")
            b.is_the_patient(b.resolve.follow(ref, path, sr, PEOPLE, required=False, read=False), path)
    _supporting_info(b, sr)


def _request_id(b: _Builder, sr: Entry) -> None:
    identifiers = _list(sr.resource, "identifier")
    chosen = next((i for i, ident in enumerate(identifiers)
                   if any(c.get("code") == "PLAC" for c in _list(ident.get("type"), "coding"))), 0)
    if identifiers:
        b.req.client_request_id = _str(identifiers[chosen], "value")
        b.req.client_request_system = _str(identifiers[chosen], "system")
        b.source("client_request_id", f"{sr.path}.identifier[{chosen}].value")
        b.source("client_request_system", f"{sr.path}.identifier[{chosen}].system")
    else:
        b.source("client_request_id", f"{sr.path}.identifier")


def _coded(concept: dict | None, path: str) -> tuple[str, str, str]:
    """(ICD-10-CM code, text, FHIRPath of the code) of a CodeableConcept."""
    codings = _list(concept, "coding")
    for j, coding in enumerate(codings):
        if coding.get("system") in v.ICD10CM_SYSTEMS and _str(coding, "code"):
            return coding["code"], _str(concept, "text") or _str(coding, "display"), f"{path}.coding[{j}].code"
    return "", _str(concept, "text"), path


def _condition(b: _Builder, entry: Entry) -> tuple[str, str, str]:
    b.same_patient(entry.resource.get("subject"), f"{entry.path}.subject", entry)
    return _coded(entry.resource.get("code"), f"{entry.path}.code")


def _diagnoses(b: _Builder, sr: Entry) -> None:
    found: list[tuple[str, str, str, Entry | None]] = []
    for i, ref in enumerate(_list(sr.resource, "reasonReference")):
        condition = b.resolve.follow(ref, f"{sr.path}.reasonReference[{i}]", sr, ("Condition",))
        if condition is not None:
            found.append((*_condition(b, condition), condition))
    for i, concept in enumerate(_list(sr.resource, "reasonCode")):
        found.append((*_coded(concept, f"{sr.path}.reasonCode[{i}]"), None))
    b.source("diagnosis_code", f"{sr.path}.reasonReference")
    for n, (code, text, path, _) in enumerate(found):
        if not code:
            b.problem(path, f"needs an ICD-10-CM coding (system {v.ICD10CM})", REQUIRED,
                      explains="diagnosis_code" if n == 0 else f"secondary_diagnoses[{n - 1}].code")
        if n == 0:
            b.req.diagnosis_code, b.req.diagnosis_text = code, text
            b.source("diagnosis_code", path)
            b.source("diagnosis_text", path.rsplit(".coding[", 1)[0] + ".text")
        else:
            b.req.secondary_diagnoses.add(code=code, text=text)
            b.source(f"secondary_diagnoses[{n - 1}]", path.rsplit(".coding[", 1)[0])
            b.source(f"secondary_diagnoses[{n - 1}].code", path)
    b.primary_condition = found[0][3] if found else None


def _supporting_info(b: _Builder, sr: Entry) -> None:
    kinds: dict[str, list[tuple[Entry, str]]] = {"CarePlan": [], "DocumentReference": [], "Consent": []}
    for i, ref in enumerate(_list(sr.resource, "supportingInfo")):
        path = f"{sr.path}.supportingInfo[{i}]"
        entry = b.resolve.follow(ref, path, sr, tuple(kinds))
        if entry is not None:
            kinds[entry.type].append((entry, path))
    b.source("first_opinion", f"{sr.path}.supportingInfo")
    b.source("consent", f"{sr.path}.supportingInfo")
    for name in ("CarePlan", "Consent"):
        for _, path in kinds[name][1:]:
            b.problem(f"{path}.reference", f"is a second {name}: the request has one", INVALID)
    if kinds["CarePlan"]:
        _first_opinion(b, kinds["CarePlan"][0][0])
    for entry, _ in kinds["DocumentReference"]:
        _attachments(b, entry)
    if kinds["Consent"]:
        _consent(b, kinds["Consent"][0][0])


def _patient(b: _Builder, pt: Entry) -> None:
    res, p, out = pt.resource, pt.path, b.req.patient
    out.SetInParent()
    names = [(i, n) for i, n in enumerate(_list(res, "name")) if n.get("use") not in ("old", "maiden")]
    official = [(i, n) for i, n in names if n.get("use") == "official"]
    b.source("patient.given_name", f"{p}.name")
    b.source("patient.family_name", f"{p}.name")
    if official or names:
        k, name = (official or names)[0]
        given = [g for g in _list(name, "given") if isinstance(g, str)]
        out.given_name, out.family_name = (given[0] if given else ""), _str(name, "family")
        out.other_given_names.extend(given[1:])
        b.source("patient.given_name", f"{p}.name[{k}].given[0]" if given else f"{p}.name[{k}].given")
        b.source("patient.family_name", f"{p}.name[{k}].family")
        for j in range(1, len(given)):
            b.source(f"patient.other_given_names[{j - 1}]", f"{p}.name[{k}].given[{j}]")
    out.birth_date = _str(res, "birthDate")
    b.source("patient.birth_date", f"{p}.birthDate")
    if res.get("gender"):
        out.sex = SEX.get(res["gender"], 0)
        if res["gender"] not in SEX:
            b.problem(f"{p}.gender", "must be male, female, other or unknown", VALUE)
    for i, ident in enumerate(_list(res, "identifier")):
        if ident.get("use") == "old" or not _str(ident, "system"):
            continue  # no longer the patient's, or a value no system can be asked about
        kind = next((_str(c, "code") for c in _list(ident.get("type"), "coding") if c.get("system") ==
                     v.IDENTIFIER_TYPE), "")
        k = len(out.identifiers)
        out.identifiers.add(system=_str(ident, "system"), value=_str(ident, "value"), type=kind)
        for proto, fhir in (("", ""), (".system", ".system"), (".value", ".value"), (".type", ".type")):
            b.source(f"patient.identifiers[{k}]{proto}", f"{p}.identifier[{i}]{fhir}")
    for name, wanted in (("email", contacts.EMAIL), ("phone", contacts.PATIENT_TEXTS)):
        if (found := contacts.pick(res.get("telecom"), wanted, today=b.today)) is not None:
            i, value = found
            setattr(out, name, value)
            b.source(f"patient.{name}", f"{p}.telecom[{i}].value")
    _language(b, pt)
    _jurisdiction(b, pt)


def _language(b: _Builder, pt: Entry) -> None:
    spoken = _list(pt.resource, "communication")
    b.source("language", f"{pt.path}.communication")
    if not spoken:
        return
    k = next((i for i, c in enumerate(spoken) if c.get("preferred") is True), 0)
    codings = _list(spoken[k].get("language"), "coding")
    j = next((j for j, c in enumerate(codings) if c.get("system") == v.BCP47), 0)
    b.req.language = _str(codings[j], "code") if codings else ""
    b.source("language", f"{pt.path}.communication[{k}].language" +
             (f".coding[{j}].code" if codings else ""))


def country_of(value: str):
    try:
        return pycountry.countries.lookup(value.strip())
    except LookupError:
        return None


# The US territories ISO 3166-1 also lists as countries (PR, GU, ...): an address
# there may give its country as PR; its jurisdiction is the US subdivision (US-PR).
US_TERRITORIES = frozenset({"AS", "GU", "MP", "PR", "UM", "VI"})


def subdivision_of(country: str, state: str):
    state = state.strip()
    if country in US_TERRITORIES and state.upper() in ("", country, f"US-{country}"):
        return pycountry.subdivisions.get(code=f"US-{country}")
    code = state.upper() if "-" in state else f"{country}-{state.upper()}"
    found = pycountry.subdivisions.get(code=code)
    if found is not None and found.country_code == country:
        return found
    matches = [s for s in pycountry.subdivisions.get(country_code=country) or ()
               if _plain(s.name) == _plain(state)]
    return matches[0] if len(matches) == 1 else None


def _plain(name: str) -> str:
    """A place name without case or accents: "Québec" as ISO 3166-2 spells it, Quebec."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)).casefold()


# Where the patient lives, most likely first: a home address, one whose use is not
# said, a work one; a temporary stay and a billing address last.
_ADDRESS_USES = {"home": 0, None: 1, "work": 2, "temp": 3, "billing": 4}


def current_addresses(patient: dict, today: date) -> list[tuple[int, dict]]:
    """The patient's addresses in use, as (index, address), where they live first:
    none of use `old`, none whose `period` ended before `today` or starts after it."""
    usable = [(i, a) for i, a in enumerate(_list(patient, "address"))
              if isinstance(a, dict) and a.get("use") != "old" and contacts.in_use(a, today)]
    return sorted(usable, key=lambda found: (_ADDRESS_USES.get(found[1].get("use"), 1), found[0]))


def _jurisdiction(b: _Builder, pt: Entry) -> None:
    addresses = current_addresses(pt.resource, b.today)
    b.source("jurisdiction", f"{pt.path}.address")
    if not addresses:
        b.problem(f"{pt.path}.address", "is required: the patient's address in use (not old, its period not "
                                         "ended) with state and country, which decide where the reviewer must be "
                                         "licensed", REQUIRED, explains="jurisdiction")
        return
    i, address = addresses[0]
    path = f"{pt.path}.address[{i}]"
    country_text, state = _str(address, "country"), _str(address, "state")
    country = country_of(country_text) if country_text else None
    if not country_text:
        b.problem(f"{path}.country", "is required: an ISO 3166 country code (e.g. US); it is not guessed from "
                                     "the state", REQUIRED, explains="jurisdiction")
    elif country is None:
        b.problem(f"{path}.country", "is not an ISO 3166 country (alpha-2, alpha-3 or name)", VALUE,
                  explains="jurisdiction")
    territory = country is not None and country.alpha_2 in US_TERRITORIES  # its own jurisdiction
    if not state and not territory:
        b.problem(f"{path}.state", "is required: the state or other ISO 3166-2 subdivision (e.g. CA)", REQUIRED,
                  explains="jurisdiction")
    if country is None or not (state or territory):
        return
    subdivision = subdivision_of(country.alpha_2, state)
    if subdivision is None:
        territories = "; territories too: PR, GU, VI, AS, MP, UM" if country.alpha_2 == "US" else ""
        b.problem(f"{path}.state", f"is not a subdivision of {country.alpha_2} (its ISO 3166-2 code, e.g. CA, "
                                   f"or name{territories})", VALUE, explains="jurisdiction")
        return
    b.req.jurisdiction = subdivision.code
    b.source("jurisdiction", f"{path}.state")


def _first_opinion(b: _Builder, cp: Entry) -> None:
    res, p, out = cp.resource, cp.path, b.req.first_opinion
    out.SetInParent()
    b.source("first_opinion", p)
    b.same_patient(res.get("subject"), f"{p}.subject", cp)
    b.source("first_opinion.physician", f"{p}.author")
    b.source("first_opinion.organization", f"{p}.author")
    author = b.resolve.follow(res.get("author"), f"{p}.author", cp, ("PractitionerRole", "Practitioner"))
    practitioner = author
    if author is not None and author.type == "PractitionerRole":
        role = author.resource
        practitioner = b.resolve.follow(role.get("practitioner"), f"{author.path}.practitioner", author,
                                        ("Practitioner",))
        organization = b.resolve.follow(role.get("organization"), f"{author.path}.organization", author,
                                        ("Organization",), required=False)
        b.source("first_opinion.organization", f"{author.path}.organization")
        if organization is not None:
            out.organization.name = _str(organization.resource, "name")
            b.source("first_opinion.organization.name", f"{organization.path}.name")
            out.organization.npi = _npi(b, organization, "first_opinion.organization.npi")
    if practitioner is not None:
        out.physician.SetInParent()
        b.source("first_opinion.physician", practitioner.path)
        out.physician.npi = _npi(b, practitioner, "first_opinion.physician.npi")
        names = [(i, n) for i, n in enumerate(_list(practitioner.resource, "name")) if n.get("use") != "old"]
        b.source("first_opinion.physician.given_name", f"{practitioner.path}.name")
        b.source("first_opinion.physician.family_name", f"{practitioner.path}.name")
        if names:
            k, name = names[0]
            given = [g for g in _list(name, "given") if isinstance(g, str)]
            out.physician.given_name, out.physician.family_name = (given[0] if given else ""), _str(name, "family")
            b.source("first_opinion.physician.given_name", f"{practitioner.path}.name[{k}].given[0]")
            b.source("first_opinion.physician.family_name", f"{practitioner.path}.name[{k}].family")
        # Where the physician is reached: the role's e-mail (their work address) before the person's.
        for holder in (author, practitioner):
            if holder is not None and (found := contacts.pick(holder.resource.get("telecom"), contacts.EMAIL,
                                                              today=b.today)) is not None:
                out.physician.email = found[1]
                b.source("first_opinion.physician.email", f"{holder.path}.telecom[{found[0]}].value")
                break
    for i, ref in enumerate(_list(res, "addresses")):
        condition = b.resolve.follow(ref, f"{p}.addresses[{i}]", cp, ("Condition",))
        if i == 0 and condition is not None and (b.primary_condition is None or
                                                   condition.key != b.primary_condition.key):
            code, text, path = _condition(b, condition)
            out.diagnosis.code, out.diagnosis.text = code, text
            b.source("first_opinion.diagnosis", f"{condition.path}.code")
            b.source("first_opinion.diagnosis.code", path)
            if not code:
                b.problem(path, f"needs an ICD-10-CM coding (system {v.ICD10CM})", REQUIRED,
                          explains="first_opinion.diagnosis.code")
    _procedures(b, cp)
    out.proposed_treatment.text = _str(res, "description")
    b.source("first_opinion.proposed_treatment", f"{p}.activity")
    b.source("first_opinion.proposed_treatment.text", f"{p}.description")
    out.rationale = "\n\n".join(_str(n, "text") for n in _list(res, "note") if _str(n, "text"))
    b.source("first_opinion.rationale", f"{p}.note[0].text" if _list(res, "note") else f"{p}.note")


def _npi(b: _Builder, entry: Entry, proto_path: str) -> str:
    identifiers = _list(entry.resource, "identifier")
    b.source(proto_path, f"{entry.path}.identifier")
    for i, ident in enumerate(identifiers):
        if ident.get("system") in v.NPI_SYSTEMS and ident.get("use") != "old":
            b.source(proto_path, f"{entry.path}.identifier[{i}].value")
            return _str(ident, "value")
    return ""


def _procedures(b: _Builder, cp: Entry) -> None:
    codes = b.req.first_opinion.proposed_treatment.codes
    for i, activity in enumerate(_list(cp.resource, "activity")):
        if activity.get("reference"):
            b.problem(f"{cp.path}.activity[{i}].reference", "is not read: give the procedure as "
                                                             "activity.detail.code", NOT_SUPPORTED)
        concept = (activity.get("detail") or {}).get("code")
        for j, coding in enumerate(_list(concept, "coding")):
            system = v.PROCEDURE_SYSTEMS.get(coding.get("system"))
            if system is None:
                continue
            path = f"{cp.path}.activity[{i}].detail.code.coding[{j}]"
            n = len(codes)
            codes.add(system=system, code=_str(coding, "code"), display=_str(coding, "display"))
            b.source(f"first_opinion.proposed_treatment.codes[{n}]", path)
            b.source(f"first_opinion.proposed_treatment.codes[{n}].code", f"{path}.code")
            b.source(f"first_opinion.proposed_treatment.codes[{n}].display", f"{path}.display")


def _attachments(b: _Builder, dr: Entry) -> None:
    res, p = dr.resource, dr.path
    if res.get("status") != "current":
        b.problem(f"{p}.status", "must be current: a superseded or erroneous record is not sent for review", VALUE)
    b.same_patient(res.get("subject"), f"{p}.subject", dr)
    for j, content in enumerate(_list(res, "content")):
        attachment = content.get("attachment") or {}
        path = f"{p}.content[{j}].attachment"
        if attachment.get("data"):
            b.problem(f"{path}.data", "is not accepted: records are sent by reference (url), not inline",
                      NOT_SUPPORTED)
        sha256 = next((_str(e, "valueString") for e in _list(attachment, "extension") if e.get("url") ==
                       v.EXT_SHA256), "")
        n = len(b.req.attachments)
        b.req.attachments.add(uri=_str(attachment, "url"), media_type=_str(attachment, "contentType"),
                              size_bytes=attachment.get("size") or 0, sha256=sha256,
                              title=_str(attachment, "title") or _str(res, "description"))
        for proto, fhir in (("", ""), (".uri", ".url"), (".media_type", ".contentType"), (".size_bytes", ".size"),
                            (".sha256", f".extension('{v.EXT_SHA256}')")):
            b.source(f"attachments[{n}]{proto}", path + fhir)
        b.source(f"attachments[{n}].title", f"{path}.title" if _str(attachment, "title") else f"{p}.description")


def _consent(b: _Builder, cs: Entry) -> None:
    res, p, out = cs.resource, cs.path, b.req.consent
    b.source("consent", p)
    b.same_patient(res.get("patient"), f"{p}.patient", cs)
    provision = res.get("provision") or {}
    out.granted = res.get("status") == "active" and provision.get("type", "permit") == "permit"
    b.source("consent.granted", f"{p}.status" if res.get("status") != "active" else f"{p}.provision.type")
    b.source("consent.granted_at", f"{p}.dateTime")
    when = _str(res, "dateTime")
    if when and not _DATE_TIME.match(when):
        b.problem(f"{p}.dateTime", "must be a full date or date and time (not a year or month alone)", VALUE,
                  explains="consent.granted_at")
    elif when:
        try:
            moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
            # A date alone: its first moment anywhere (00:00 at UTC+14), so a consent dated
            # today where the patient is is never "in the future" by the UTC date.
            out.granted_at.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=_EARLIEST_ZONE))
        except (ValueError, OverflowError):
            b.problem(f"{p}.dateTime", "is not a calendar date and time", VALUE, explains="consent.granted_at")
    if any(c.get("system") == v.CONSENT_CATEGORY and c.get("code") == v.SECOND_OPINION_REVIEW
           for concept in _list(res, "category") for c in _list(concept, "coding")):
        out.scope = intake_pb2.CONSENT_SCOPE_SECOND_OPINION_REVIEW
    b.source("consent.scope", f"{p}.category")
    performers = _list(res, "performer")
    b.source("consent.recorded_by", f"{p}.performer")
    if performers:
        who = performers[0]
        reference = _str(who, "reference")
        if reference:
            b.is_the_patient(b.resolve.follow(who, f"{p}.performer[0]", cs, PEOPLE, required=False, read=False),
                             f"{p}.performer[0]")
        out.recorded_by = _str(who, "display") or _str(who.get("identifier"), "value") or reference
        b.source("consent.recorded_by", f"{p}.performer[0]")

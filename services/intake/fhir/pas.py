"""A Da Vinci PAS request Bundle (`POST /fhir/Claim/$submit`) as a prior-authorization
request, or every reason it cannot be one, each at the element that broke it.

The profile rules a model library does not check are the platform's own:

  Bundle.type               collection (PAS's request bundle)
  Bundle.identifier.value   required: the submitter's transaction id (a resubmission repeats it)
  Bundle.entry.fullUrl      required on every entry: an absolute URL or urn:uuid
  entry[0]                  the Claim; use = preauthorization, status = active
  every reference read      resolves inside the bundle (secondlook/fhir/references.py)

How the Claim maps, field by field (what a safe decision needs is required; what public
examples leave out and a decision can do without is accepted and said so):

  .priority / levelOfServiceCode  expedited: priority stat, or X12 1338 level of service
                              U (urgent) or 03 (emergency); else standard (CMS-0057-F clocks)
  .identifier[0].value        the submitter's trace number (optional)
  .diagnosis                  ICD-10-CM codings, in sequence order: at least one, each known
  .item                       at least one; productOrService a CPT or HCPCS code (shape checked)
                              or an X12 service type (1365); quantity from the item, else
                              its requested ServiceRequest/DeviceRequest, else 1; a repeated
                              sequence is accepted when the items' itemTraceNumbers tell them apart
  .patient -> Patient         family name required; birth date, sex optional (examples omit them)
  member id                   Patient.identifier of type MB or MI, or whose system ends in MIN
                              or member, else
                              Coverage.subscriberId, else Coverage.identifier: required
  .insurance (focal) -> Coverage  payor must resolve, beneficiary must be the Claim's patient;
                              plan from class "plan" (optional)
  .insurer -> Organization    the payer: name required; its identifier as sent
  .provider, .careTeam        the requesting organisation and practitioner; an identifier
                              labelled NPI that fails the NPI check digit is kept as an
                              identifier, never as an NPI (examples carry 9-digit ones)
  jurisdiction                the patient's current address (state; no country: US, a US
                              guide), else the Claim identifier's identifierJurisdiction (the
                              state that assigned it: a stand-in when the patient has no
                              address, as in the public examples): required
  .type                       echoed in the response (professional when absent)
  .priority, levelOfServiceCode  a code of neither system's values: refused (an urgent request
                              read as standard would get 7 days for 72 hours); the level on an
                              item: refused (it is the Claim's)
  .item.modifier              refused: not read in this version (the service would be
                              reviewed as its plain code)
  .item.diagnosisSequence, .item.careTeamSequence  each the sequence of an entry of the Claim's
                              diagnosis or careTeam: one pointing at none is refused
  Coverage.status             active (or absent): a coverage no longer in force is refused
  Bundle.meta.profile         when it names any, the PAS request Bundle's among them
  .supportingInfo, .item.serviced[x], .item.location[x]  accepted, not read in this version
                              (the reviewer asks with PEND for what the codes do not say)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from secondlook.codes import normalise_icd10, normalise_procedure, npi_is_valid, procedure_code_problem
from secondlook.fhir.problems import INVALID, NOT_SUPPORTED, REQUIRED, VALUE, Problem
from secondlook.fhir.references import BundleIndex, Entry, Resolver

from ..domain.priorauth import CPT, HCPCS, X12_SERVICE_TYPE, Party, PriorAuthRequest, RequestedService
from ..domain.submission import latest_date
from . import vocabulary as v
from .translate import US_TERRITORIES, country_of, current_addresses, subdivision_of

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
CLOCK_SKEW = timedelta(minutes=5)  # a sender's clock ahead of ours
EXT_LEVEL_OF_SERVICE = f"{PAS}/extension-levelOfServiceCode"
EXT_ITEM_TRACE = f"{PAS}/extension-itemTraceNumber"
EXT_REQUESTED_SERVICE = f"{PAS}/extension-requestedService"
EXT_JURISDICTION = f"{PAS}/extension-identifierJurisdiction"
X12_SERVICE_TYPES = "https://codesystem.x12.org/005010/1365"
X12_SERVICE_TYPE_SYSTEMS = frozenset({X12_SERVICE_TYPES, "http://codesystem.x12.org/005010/1365"})  # both in use
EXPEDITED_LEVELS = frozenset({"U", "03"})  # X12 1338: urgent, emergency
LEVELS_OF_SERVICE = frozenset({"U", "03", "E"})  # X12 1338 in a 278: urgent, emergency, elective
PRIORITIES = frozenset({"stat", "normal", "deferred"})  # FHIR processpriority
PRIORITY_SYSTEMS = frozenset({"", "http://terminology.hl7.org/CodeSystem/processpriority"})
LEVEL_SYSTEMS = frozenset({"", "http://codesystem.x12.org/005010/1338", "https://codesystem.x12.org/005010/1338"})
REQUESTS = ("ServiceRequest", "DeviceRequest", "MedicationRequest", "NutritionOrder")
PRACTITIONERS = ("Practitioner", "PractitionerRole")
MAX_ITEMS = 50
MAX_DIAGNOSES = 11  # the primary and 10 more, as SubmitCase allows
X12_SERVICE_TYPE_CODE = re.compile(r"^[A-Z0-9]{1,2}$")  # element 1365: "3", "AE", "BZ"
MAX_QUANTITY = 10_000


@dataclass
class PasTranslation:
    request: PriorAuthRequest | None
    problems: list[Problem] = field(default_factory=list)
    # Accepted though imperfect: (FHIRPath, what was done), e.g. an identifier labelled NPI that is not one.
    notes: list[tuple[str, str]] = field(default_factory=list)
    # Where the request's fields were read (PriorAuthRequest paths -> FHIRPath), to place
    # what the platform's own rules find (services/intake/domain/priorauth.py).
    where: dict[str, str] = field(default_factory=dict)
    # Bundle.identifier.system: who assigned the transaction id (the key is the pair).
    submission_system: str = ""

    def locate(self, path: str) -> str:
        """The FHIRPath a field (`items[2].unit`, `payer.name`) came from; the Claim's when unknown."""
        head = path.split(".", 1)[0]
        return self.where.get(path) or self.where.get(head) or "Bundle.entry[0].resource"


def _list(node: dict | None, key: str) -> list:
    value = (node or {}).get(key)
    return value if isinstance(value, list) else []


def _str(node: dict | None, key: str) -> str:
    value = (node or {}).get(key)
    return value.strip() if isinstance(value, str) else ""


def _codes(concept: dict | None) -> list[tuple[int, str, str]]:
    return [(i, _str(c, "system"), _str(c, "code")) for i, c in enumerate(_list(concept, "coding"))]


def _extension(node: dict, url: str) -> tuple[int, dict] | None:
    return next(((i, e) for i, e in enumerate(_list(node, "extension")) if e.get("url") == url), None)


class _Reader:
    def __init__(self, bundle: dict):
        self.index = BundleIndex(bundle)
        self.resolver = Resolver(self.index)
        self.problems: list[Problem] = list(self.index.problems)
        self.notes: list[tuple[str, str]] = []
        self.where: dict[str, str] = {}

    def extension_value(self, node: dict, path: str, url: str, value: str) -> Any:
        """The value of `node`'s extension `url` (of type `value`, e.g. valueIdentifier),
        or None; one of another type is a problem, never ignored (an urgent request read
        as standard)."""
        found = _extension(node, url)
        if found is None:
            return None
        i, extension = found
        repeats = [j for j, e in enumerate(_list(node, "extension")) if e.get("url") == url][1:]
        if repeats:  # the IG allows one: a second (urgent after standard) is never left unread
            self.problem(f"{path}.extension[{repeats[0]}]", f"repeats {url.rsplit('/', 1)[-1]}: the PAS IG allows one",
                         VALUE)
        if value not in extension:
            self.problem(f"{path}.extension[{i}]", f"must have {value}, as the PAS IG defines "
                                                   f"{url.rsplit('/', 1)[-1]}", VALUE)
        return extension.get(value)

    def problem(self, path: str, rule: str, code: str = INVALID) -> None:
        self.problems.append(Problem(path, rule, code))

    def follow(self, reference: object, path: str, source: Entry, types: tuple[str, ...],
               required: bool = True) -> Entry | None:
        return self.resolver.follow(reference, path, source, types, required=required)

    def party(self, entry: Entry | None, required_name: bool = False, role: str = "") -> Party:
        if entry is None:
            return Party()
        if role:
            self.where[role] = entry.path
        res = entry.resource
        first = (_list(res, "name") or [{}])[0]
        given = [g for g in _list(first, "given") if isinstance(g, str)]
        name = _str(res, "name") if entry.type == "Organization" else " ".join([*given, _str(first, "family")]).strip()
        if required_name and not name:
            self.problem(f"{entry.path}.name", "is required: who the request is made to or by", REQUIRED)
        for i, ident in enumerate(_list(res, "identifier")):
            value = _str(ident, "value")
            if ident.get("system") in v.NPI_SYSTEMS and ident.get("use") != "old" and value:
                if npi_is_valid(value):
                    return Party(name=name, npi=value)
                self.notes.append((f"{entry.path}.identifier[{i}].value", "labelled NPI but fails the NPI check "
                                   "digit: kept as an identifier, not used as an NPI"))
                return Party(name=name, identifier=value)
        identifier = next((_str(i, "value") for i in _list(res, "identifier") if _str(i, "value")
                           and i.get("use") != "old"), "")
        return Party(name=name, identifier=identifier)


def _in_the_future(created: str, now: datetime) -> bool:
    """A dateTime after `now` (a few minutes' grace for clocks), or a date after the
    latest date on earth."""
    if len(created) == 10:
        return created > latest_date(now).isoformat()
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return False  # a partial date: the model checked its form
    return moment.tzinfo is not None and moment > now + CLOCK_SKEW


def translate_pas(bundle: dict, *, today: date, now: datetime | None = None) -> PasTranslation:
    """The request, or (None, every problem). `bundle` is an R4 Bundle as read by
    secondlook.fhir.bundle.read_bundle; `today` tells the patient's addresses still in use."""
    r = _Reader(bundle)
    if bundle.get("type") != "collection":
        r.problem("Bundle.type", "must be collection: a PAS request bundle", VALUE)
    profiles = [p for p in _list(bundle.get("meta") or {}, "profile") if isinstance(p, str)]
    if profiles and not any(p.split("|")[0].endswith("/profile-pas-request-bundle") for p in profiles):
        r.problem("Bundle.meta.profile", "must name the PAS request Bundle profile (profile-pas-request-bundle) "
                                         "when it names any: this Bundle claims to be something else", VALUE)
    submission_id = _str(bundle.get("identifier"), "value")
    if not submission_id:
        r.problem("Bundle.identifier.value", "is required: the submitter's transaction identifier", REQUIRED)
    for entry in r.index.entries:
        url = entry.full_url
        if not url:
            r.problem(f"Bundle.entry[{entry.index}].fullUrl", "is required: an absolute URL or urn:uuid", REQUIRED)
        elif not (url.startswith(("urn:uuid:", "https://", "http://"))):
            r.problem(f"Bundle.entry[{entry.index}].fullUrl", "must be an absolute URL or a urn:uuid", VALUE)
    if not r.index.entries or r.index.entries[0].type != "Claim":
        r.problem("Bundle.entry[0].resource", "must be the Claim: a PAS request bundle starts with it",
                  REQUIRED if not r.index.entries else INVALID)
        return PasTranslation(None, r.problems)
    claim = r.index.entries[0]
    res, path = claim.resource, claim.path
    for entry in r.index.entries[1:]:
        if entry.type == "Claim":  # never dropped unread: one request, one Claim
            r.problem(f"{entry.path}", "is a second Claim: a PAS request bundle holds one (send each request "
                                       "in a bundle of its own)", VALUE)
    for i, contained in enumerate(_list(res, "contained")):
        if isinstance(contained, dict) and contained.get("resourceType") == "Claim":
            r.problem(f"{path}.contained[{i}]", "is a second Claim: a PAS request bundle holds one", VALUE)
    if res.get("use") != "preauthorization":
        r.problem(f"{path}.use", "must be preauthorization", VALUE)
    if _in_the_future(_str(res, "created"), now or datetime.combine(today, time.max, timezone.utc)):
        r.problem(f"{path}.created", "must not be in the future", VALUE)
    if res.get("status") != "active":
        r.problem(f"{path}.status", "must be active", VALUE)

    patient = r.follow(res.get("patient"), f"{path}.patient", claim, ("Patient",))
    payer = r.party(r.follow(res.get("insurer"), f"{path}.insurer", claim, ("Organization",)), required_name=True,
                    role="payer")
    organization = r.party(r.follow(res.get("provider"), f"{path}.provider", claim, ("Organization", *PRACTITIONERS)),
                           role="requesting_organization")
    practitioner = Party()
    for i, member in enumerate(_list(res, "careTeam")):
        found = r.party(r.follow(member.get("provider"), f"{path}.careTeam[{i}].provider", claim,
                                 ("Organization", *PRACTITIONERS)), role="" if i else "requesting_provider")
        if i == 0:
            practitioner = found
    coverage = _coverage(r, claim, patient)
    diagnoses = _diagnoses(r, claim)
    items = _items(r, claim)
    family, given, birth_date, sex = "", (), "", ""
    plan = ""
    if patient is not None:
        names = _list(patient.resource, "name")
        official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
        family, given = _str(official, "family"), tuple(g for g in _list(official, "given") if isinstance(g, str))
        if not family:
            r.problem(f"{patient.path}.name", "is required: the patient's family name", REQUIRED)
        birth_date, sex = _str(patient.resource, "birthDate"), _str(patient.resource, "gender")
    member_id = _member_of(patient, coverage)
    if coverage is not None:
        plan = next((_str(c, "value") for c in _list(coverage.resource, "class")
                     if any(code == "plan" for _, _, code in _codes(c.get("type")))), "")
    if patient is not None and not member_id:
        r.problem(f"{patient.path}.identifier", "is required: the member id (an identifier of type MB, or the "
                                                "Coverage's subscriberId or identifier)", REQUIRED)
    jurisdiction = _jurisdiction(r, claim, patient, today)
    level = r.extension_value(res, path, EXT_LEVEL_OF_SERVICE, "valueCodeableConcept")
    # Only codings of the code system each is bound to (or of none) are read: another
    # coding beside them (a local code, SNOMED) is the sender's own, as R4 allows.
    levels = {code for _, system, code in _codes(level) if system in LEVEL_SYSTEMS} if level else set()
    priority = {code for _, system, code in _codes(res.get("priority")) if system in PRIORITY_SYSTEMS}
    # A code read as nothing would make an urgent request standard (7 days for 72 hours): refused.
    if level and (not levels or levels - LEVELS_OF_SERVICE):
        told = sorted(levels - LEVELS_OF_SERVICE)
        r.problem(f"{path}.extension", (f"levelOfServiceCode {told[0]!r} is" if told else "levelOfServiceCode has")
                  + " no X12 1338 level of service: U (urgent), 03 (emergency) or E (elective)", VALUE)
    if priority - PRIORITIES:
        r.problem(f"{path}.priority", f"{sorted(priority - PRIORITIES)[0]!r} is no processpriority code: stat "
                                      "(an urgent request), normal or deferred", VALUE)
    problems = r.problems + r.resolver.problems
    if problems:
        return PasTranslation(None, problems, r.notes)
    where = {"submission_id": "Bundle.identifier.value", "client_request_system": "Bundle.identifier.system",
             "claim_identifier": f"{path}.identifier[0].value",
             "claim_type": f"{path}.type", "items": f"{path}.item",
             **{f"items[{i}]": f"{path}.item[{i}]" for i in range(len(items))},
             **r.where}
    if not (practitioner.name or practitioner.npi):  # the organisation asks
        where["requesting_provider"] = where.get("requesting_organization", f"{path}.provider")
    if patient is not None:
        where.update({"patient.family_name": f"{patient.path}.name", "patient.given_names": f"{patient.path}.name",
                      "patient.birth_date": f"{patient.path}.birthDate", "patient.sex": f"{patient.path}.gender",
                      "member_id": f"{patient.path}.identifier", "jurisdiction": f"{patient.path}.address"})
    if coverage is not None:
        where["plan"] = f"{coverage.path}.class"
    request = PriorAuthRequest(
        submission_id=submission_id, claim_identifier=_str((_list(res, "identifier") or [{}])[0], "value"),
        expedited="stat" in priority or bool(levels & EXPEDITED_LEVELS), diagnoses=tuple(diagnoses),
        items=tuple(items), member_id=member_id, plan=plan, payer=payer, requesting_provider=practitioner
        if practitioner.name or practitioner.npi else organization, requesting_organization=organization,
        jurisdiction=jurisdiction, patient_family_name=family, patient_given_names=given,
        patient_birth_date=birth_date, patient_sex=sex,
        claim_type=next((code for _, _, code in _codes(res.get("type")) if code), "professional"))
    return PasTranslation(request, [], r.notes, where, _str(bundle.get("identifier"), "system"))


def _coverage(r: _Reader, claim: Entry, patient: Entry | None) -> Entry | None:
    insurance = _list(claim.resource, "insurance")
    if not insurance:
        r.problem(f"{claim.path}.insurance", "is required: the patient's coverage", REQUIRED)
        return None
    i = next((i for i, ins in enumerate(insurance) if ins.get("focal") is True), 0)
    coverage = r.follow(insurance[i].get("coverage"), f"{claim.path}.insurance[{i}].coverage", claim, ("Coverage",))
    if coverage is not None:
        if coverage.resource.get("status", "active") != "active":
            r.problem(f"{coverage.path}.status", "must be active: a coverage no longer in force authorizes nothing",
                      VALUE)
        payors = _list(coverage.resource, "payor")
        if not payors:
            r.problem(f"{coverage.path}.payor", "is required: who pays", REQUIRED)
        for j, payor in enumerate(payors):
            r.follow(payor, f"{coverage.path}.payor[{j}]", coverage, ("Organization", "Patient", "RelatedPerson"))
        beneficiary = r.follow(coverage.resource.get("beneficiary"), f"{coverage.path}.beneficiary", coverage,
                               ("Patient",))
        if beneficiary is not None and patient is not None and beneficiary.key != patient.key:
            r.problem(f"{coverage.path}.beneficiary.reference", "must be the Claim's patient: the coverage of "
                                                                "another person", INVALID)
    return coverage


def _diagnoses(r: _Reader, claim: Entry) -> list[str]:
    found: list[tuple[int, str]] = []
    diagnoses = _list(claim.resource, "diagnosis")
    if not diagnoses:
        r.problem(f"{claim.path}.diagnosis", "is required: at least one ICD-10-CM diagnosis", REQUIRED)
    if len(diagnoses) > MAX_DIAGNOSES:
        r.problem(f"{claim.path}.diagnosis", f"must have at most {MAX_DIAGNOSES} diagnoses", VALUE)
        return []
    for i, dx in enumerate(diagnoses):
        path = f"{claim.path}.diagnosis[{i}]"
        codings = [(j, code) for j, system, code in _codes(dx.get("diagnosisCodeableConcept")) if system in v.ICD10CM_SYSTEMS]
        if not codings:
            r.problem(f"{path}.diagnosisCodeableConcept", "must have an ICD-10-CM coding "
                                                          f"(system {v.ICD10CM})", REQUIRED)
            continue
        j, code = codings[0]
        normal = normalise_icd10(code)
        if normal is None:
            r.problem(f"{path}.diagnosisCodeableConcept.coding[{j}].code", "is not an ICD-10-CM code", VALUE)
            continue
        if normal in {code for _, code in found}:
            r.problem(f"{path}.diagnosisCodeableConcept.coding[{j}].code", "repeats a diagnosis given before", VALUE)
            continue
        sequence = dx.get("sequence")
        found.append((sequence if isinstance(sequence, int) else i + 1, normal))
    return [code for _, code in sorted(found, key=lambda s: s[0])]


def _items(r: _Reader, claim: Entry) -> list[RequestedService]:
    items = _list(claim.resource, "item")
    if not items:
        r.problem(f"{claim.path}.item", "is required: at least one requested service", REQUIRED)
    if len(items) > MAX_ITEMS:
        r.problem(f"{claim.path}.item", f"must have at most {MAX_ITEMS} items", VALUE)
        return []
    found: list[tuple[int, RequestedService]] = []
    for i, item in enumerate(items):
        path = f"{claim.path}.item[{i}]"
        system, code = _service(r, item, path)
        trace = _str(r.extension_value(item, path, EXT_ITEM_TRACE, "valueIdentifier"), "value")
        quantity, unit = _quantity(r, item, path)
        if _extension(item, EXT_LEVEL_OF_SERVICE) is not None:  # never dropped unread
            r.problem(f"{path}.extension", "levelOfServiceCode is read on the Claim: one request, one urgency", VALUE)
        if item.get("modifier"):  # a bilateral or one-sided service would be reviewed as the plain code
            r.problem(f"{path}.modifier", "is not read in this version: a service with a modifier would be reviewed "
                                          "and authorized as its plain code; request it without, or apart",
                      NOT_SUPPORTED)
        requested = _extension(item, EXT_REQUESTED_SERVICE)
        if requested is not None:
            target = r.follow(requested[1].get("valueReference"), f"{path}.extension[{requested[0]}].valueReference",
                              claim, REQUESTS)
            if target is not None and not item.get("quantity"):
                quantity, unit = _quantity(r, target.resource, target.path, "quantityQuantity")
        for element, listed in (("diagnosisSequence", "diagnosis"), ("careTeamSequence", "careTeam")):
            known = {e.get("sequence") for e in _list(claim.resource, listed)}
            for j, number in enumerate(_list(item, element)):
                if number not in known:
                    r.problem(f"{path}.{element}[{j}]", f"must be the sequence of one of the Claim's {listed} "
                                                        "entries: it points at none", VALUE)
        sequence = item.get("sequence") if isinstance(item.get("sequence"), int) else i + 1
        if system:
            found.append((i, RequestedService(sequence=sequence, system=system, code=code, quantity=quantity,
                                              unit=unit, trace_number=trace)))
    keys = [s.key for _, s in found]
    for i, service in found:
        if keys.count(service.key) > 1:
            r.problem(f"{claim.path}.item[{i}].sequence", "must be unique, or the items with one sequence told "
                                                          "apart by their itemTraceNumber", VALUE)
    return [s for _, s in found]


def _service(r: _Reader, item: dict, path: str) -> tuple[str, str]:
    codings = _codes(item.get("productOrService"))
    for j, system, code in codings:
        name = v.PROCEDURE_SYSTEMS.get(system)
        if name in (CPT, HCPCS):
            name, code = normalise_procedure(name, code)
            if procedure_code_problem(name, code):  # (its message quotes the code: not echoed)
                shape = "5 digits, or 4 digits and F, T, U, A or M" if name == CPT else "a letter A-V and 4 digits"
                r.problem(f"{path}.productOrService.coding[{j}].code", f"is not a {name} code ({shape})", VALUE)
                return "", ""
            return name, code
        if system in X12_SERVICE_TYPE_SYSTEMS and code:
            if not X12_SERVICE_TYPE_CODE.match(code):
                r.problem(f"{path}.productOrService.coding[{j}].code", "is not an X12 service type code "
                                                                       "(1 or 2 letters or digits)", VALUE)
                return "", ""
            return X12_SERVICE_TYPE, code
    r.problem(f"{path}.productOrService", f"must have a CPT ({v.CPT}), HCPCS ({v.HCPCS}) or X12 service type "
                                          f"({X12_SERVICE_TYPES}) coding", NOT_SUPPORTED if codings else REQUIRED)
    return "", ""


def _quantity(r: _Reader, node: dict, path: str, key: str = "quantity") -> tuple[float, str]:
    """The quantity asked for (1 when none is given)."""
    quantity = node.get(key) if isinstance(node.get(key), dict) else {}
    value = quantity.get("value")
    if value is None:
        return 1.0, ""
    if not isinstance(value, (int, float)) or not 0 < value <= MAX_QUANTITY:
        r.problem(f"{path}.{key}.value", f"must be more than 0 and at most {MAX_QUANTITY}", VALUE)
        return 1.0, ""
    return float(value), _str(quantity, "code") or _str(quantity, "unit")


def _member_of(patient: Entry | None, coverage: Entry | None) -> str:
    """The member id: the patient's (type MB or MI, or a member-id system), else the
    Coverage's subscriberId, else its identifier."""
    found = _member_id(patient) if patient is not None else ""
    if not found and coverage is not None:
        found = _str(coverage.resource, "subscriberId") or next(
            (_str(i, "value") for i in _list(coverage.resource, "identifier") if _str(i, "value")), "")
    return found


def _member_id(patient: Entry) -> str:
    for ident in _list(patient.resource, "identifier"):
        if ident.get("use") == "old":
            continue  # no longer the member's
        types = {code for _, _, code in _codes(ident.get("type"))}
        last = _str(ident, "system").rstrip("/").rsplit("/", 1)[-1].lower()
        if _str(ident, "value") and (types & {"MB", "MI"} or last in ("min", "member", "memberid", "member-id")):
            return _str(ident, "value")
    return ""


def _jurisdiction(r: _Reader, claim: Entry, patient: Entry | None, today: date) -> str:
    if patient is not None:
        for i, address in current_addresses(patient.resource, today):
            state = _str(address, "state")
            # PAS is a US guide (US Core): an address without a country is read as a US one.
            country = country_of(_str(address, "country") or "US")
            if not state and (country is None or country.alpha_2 not in US_TERRITORIES):  # (Puerto Rico: its own)
                continue
            if country is None:
                r.problem(f"{patient.path}.address[{i}].country", "is not an ISO 3166 country", VALUE)
                return ""
            if (found := subdivision_of(country.alpha_2, state)) is not None:
                return found.code
            r.problem(f"{patient.path}.address[{i}].state", f"is not a subdivision of {country.alpha_2}", VALUE)
            return ""
    for identifier in _list(claim.resource, "identifier"):
        found_ext = _extension(identifier, EXT_JURISDICTION)
        if found_ext is None:
            continue
        for _, _, code in _codes(found_ext[1].get("valueCodeableConcept")):
            subdivision = subdivision_of("US", code) if code else None
            if subdivision is not None:
                return subdivision.code
    r.problem(f"{patient.path if patient else claim.path + '.patient'}.address",
              "is required: the patient's state (or the Claim identifier's identifierJurisdiction), where the "
              "reviewer must be licensed", REQUIRED)
    return ""


@dataclass(frozen=True)
class Inquiry:
    """What a PAS inquiry ($inquire) names a request by: the submitter's trace number
    (the Claim's identifier) or transaction id (the bundle's), and the patient's member id."""
    identifiers: tuple[str, ...]  # tried in this order
    member_id: str
    system: str = ""  # Bundle.identifier.system: whose transaction id


def read_inquiry(bundle: dict) -> Inquiry | list[Problem]:
    """The inquiry, or every problem: a collection Bundle whose first entry is a Claim
    (use preauthorization) naming the request and the patient it is for."""
    r = _Reader(bundle)
    if bundle.get("type") != "collection":
        r.problem("Bundle.type", "must be collection: a PAS inquiry bundle", VALUE)
    if not r.index.entries or r.index.entries[0].type != "Claim":
        r.problem("Bundle.entry[0].resource", "must be the Claim: a PAS inquiry bundle starts with it",
                  REQUIRED if not r.index.entries else INVALID)
        return r.problems
    claim = r.index.entries[0]
    if claim.resource.get("use") != "preauthorization":
        r.problem(f"{claim.path}.use", "must be preauthorization", VALUE)
    identifiers = tuple(dict.fromkeys(i for i in (_str((_list(claim.resource, "identifier") or [{}])[0], "value"),
                                                  _str(bundle.get("identifier"), "value")) if i))
    if not identifiers:
        r.problem(f"{claim.path}.identifier", "is required: the trace number of the request asked about "
                                              "(else Bundle.identifier)", REQUIRED)
    patient = r.follow(claim.resource.get("patient"), f"{claim.path}.patient", claim, ("Patient",))
    insurance = _list(claim.resource, "insurance")
    i = next((i for i, ins in enumerate(insurance) if ins.get("focal") is True), 0)
    coverage = r.follow(insurance[i].get("coverage"), f"{claim.path}.insurance[{i}].coverage", claim, ("Coverage",),
                        required=False) if insurance else None
    member_id = _member_of(patient, coverage)
    if patient is not None and not member_id:
        r.problem(f"{patient.path}.identifier", "is required: the patient's member id (an identifier of type MB, "
                                                "or the Coverage's subscriberId or identifier)", REQUIRED)
    problems = r.problems + r.resolver.problems
    return problems if problems else Inquiry(identifiers, member_id, _str(bundle.get("identifier"), "system"))

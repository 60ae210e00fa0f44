"""A directory as a FHIR R4 Bundle of Practitioner, PractitionerRole and
Organization resources (as US provider directories publish them, e.g. Da Vinci
PDex Plan-Net), read into the API's own message so that every specialist passes
exactly the checks UpsertSpecialist applies (as CSV rows do: csvimport.py).

One specialist per Practitioner; its roles are the PractitionerRoles whose
`practitioner` references it (references resolve by the bundle rules:
secondlook/fhir/references.py):

    specialist_id     Practitioner.id
    npi               Practitioner.identifier of system http://hl7.org/fhir/sid/us-npi
    display_name      Practitioner.name[0]: its text, else prefix, given and family
    languages         Practitioner.communication[].coding[].code (urn:ietf:bcp:47, or any system)
    certifications    Practitioner.qualification[] coded in the NUCC taxonomy: the board is
                      issuer.display (else code.text), expiring at period.end, or never
                      (OPEN_ENDED: a time-unlimited certificate) when it has none (Plan-Net's
                      examples give those its practitioner-qualification extension too)
    licences          the other qualifications with Plan-Net's practitioner-qualification
                      extension (or VHDir's, under which it began): one licence per
                      `whereValid` (a USPS state code, or an ISO 3166-2 code), expiring at
                      period.end, which a licence must have
                      (a qualification whose extension's status is not active is skipped)
    specialties       its roles' specialty[] NUCC codings, in order, once each
    affiliations      its roles' organization, resolved to an Organization of the bundle
                      (Organization.id, name, NPI identifier)
    out_of_office     its roles' notAvailable[].during (start and end dates)
    accepting         Practitioner.active, and an active role when it has roles
    capacity, turnaround_days, quality, years_in_practice
                      this platform's extensions on the Practitioner (EXTENSIONS below);
                      capacity defaults to DEFAULT_CAPACITY, the others as in a CSV row
    email             the Practitioner's telecom (then its roles') of system `email`, not
                      `old`: a `work` one first, then by rank
    phone             likewise, of system `sms`, else a `phone` of use `mobile` (a number
                      a text reaches: an office line is not one)
    notice_language   this platform's extension NOTICE_LANGUAGE_EXT (valueCode, BCP-47);
                      absent: empty (the first of the languages)

Violations are named by the entry and the API field (`Bundle.entry[3](Practitioner/p1).npi`),
or by the FHIRPath of what cannot be read (`Bundle.entry[5].resource.practitioner`).
"""

from __future__ import annotations

import calendar
import math

from secondlook.codes import US_STATES, usps_as_subdivision
from secondlook.fhir import contacts
from secondlook.fhir.bundle import read_bundle
from secondlook.fhir.references import BundleIndex, Entry
from secondlook.fhir.systems import NPI, NPI_SYSTEMS
from secondlook.v1 import matching_pb2
from secondlook.validation import Violation

from .csvimport import MAX_ROWS
from .registration import nucc_code

NPI_SYSTEM = NPI
NUCC_SYSTEM = "http://nucc.org/provider-taxonomy"
NUCC_SYSTEMS = frozenset({NUCC_SYSTEM, NUCC_SYSTEM + "/", "urn:oid:2.16.840.1.113883.6.101"})
USPS_SYSTEMS = frozenset({"https://www.usps.com/", "https://www.usps.com", "http://www.usps.com/"})
BCP47 = "urn:ietf:bcp:47"
QUALIFICATION_EXT = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/practitioner-qualification"
# The same extension under the Validated Healthcare Directory URL that Plan-Net's own
# first examples (Practitioner-practitioner1) still carry.
QUALIFICATION_EXTS = frozenset({QUALIFICATION_EXT,
                                "http://hl7.org/fhir/uv/vhdir/StructureDefinition/practitioner-qualification"})
# Directory resources a Plan-Net search also returns (_include): not read, not refused.
IGNORED = frozenset({"Location", "Endpoint", "HealthcareService", "OrganizationAffiliation", "InsurancePlan",
                     "OperationOutcome"})
OPEN_ENDED = "9999-12-31"  # an absence with a start and no end
BASE = "https://secondlook.example/fhir/StructureDefinition"
EXTENSIONS = {  # on the Practitioner: field -> (url, value[x], the type's name for a violation)
    "capacity": (f"{BASE}/review-capacity", "valueInteger", int),
    "turnaround_days": (f"{BASE}/review-turnaround-days", "valueDecimal", float),
    "quality": (f"{BASE}/review-quality", "valueDecimal", float),
    "years_in_practice": (f"{BASE}/years-in-practice", "valueInteger", int),
}
NOTICE_LANGUAGE_EXT = f"{BASE}/notice-language"
DEFAULTS = {"capacity": 5, "turnaround_days": 5.0, "quality": 0.8, "years_in_practice": 0}
DEFAULT_CAPACITY = DEFAULTS["capacity"]
DIRECTORY_BASE = "https://directory.secondlook.example/fhir"  # where write_fhir says its resources live
MAX_ENTRIES = 3 * MAX_ROWS  # a Practitioner, a role and an organisation each
def _codings(concept: object) -> list[dict]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)] if isinstance(concept, dict) else []


def _jurisdiction(coding: dict) -> str:
    """A USPS state code (the system Plan-Net binds, or none) as ISO 3166-2; any other
    code as it is, for the checks to judge (`US-CA` passes, Canada's `CA` does not)."""
    code = str(coding.get("code") or "").strip().upper()
    return usps_as_subdivision(code) if coding.get("system") in USPS_SYSTEMS | {None, ""} else code


def _strings(items: object) -> list[str]:
    """A primitive array's values: an item may be null when only its extension is there."""
    return [i for i in items if isinstance(i, str)] if isinstance(items, list) else []


def _name(practitioner: dict) -> str:
    """The official name (else the usual one, else the first), as text."""
    names = [n for n in practitioner.get("name") or [] if isinstance(n, dict)]
    if not names:
        return ""
    ranked = sorted(names, key=lambda n: {"official": 0, "usual": 1}.get(n.get("use"), 2))
    name = ranked[0]
    if isinstance(name.get("text"), str) and name["text"].strip():
        return name["text"].strip()
    family = name.get("family") if isinstance(name.get("family"), str) else ""
    return " ".join([*_strings(name.get("prefix")), *_strings(name.get("given")), family]).strip()


def _end_date(period: object) -> str:
    """A period's end as a date: a partial one (2027, 2027-06) is its last day."""
    end = str((period or {}).get("end") or "") if isinstance(period, dict) else ""
    if len(end) == 4 and end.isdigit():
        return f"{end}-12-31"
    if len(end) == 7 and end[:4].isdigit() and end[5:].isdigit() and 1 <= int(end[5:]) <= 12:
        year, month = int(end[:4]), int(end[5:])
        return f"{end}-{calendar.monthrange(year, month)[1]:02d}"
    return end[:10]


def _expires(qualification: dict) -> str:
    """When a qualification ends: its period, else its identifier's (as Plan-Net's sample data has it)."""
    found = _end_date(qualification.get("period"))
    for identifier in qualification.get("identifier") or []:
        found = found or _end_date(identifier.get("period"))
    return found


def _npi(resource: dict) -> str:
    return next((i.get("value") or "" for i in resource.get("identifier") or [] if i.get("system") in NPI_SYSTEMS
                 and i.get("use") != "old"), "")


def _language(communication: object) -> str:
    codings = [c for c in _codings(communication) if c.get("code")]
    tagged = [c for c in codings if c.get("system") == BCP47]
    return str((tagged or codings)[0]["code"]) if codings else ""


def _value(found: tuple[int, str] | None) -> str:
    return found[1] if found else ""


def _status(extension: dict) -> str:
    for sub in extension.get("extension") or []:
        if sub.get("url") == "status":
            return str(sub.get("valueCode") or (sub.get("valueCoding") or {}).get("code") or "")
    return "active"  # Plan-Net requires it; absent, the qualification is taken as it stands


class _Reader:
    def __init__(self, bundle: dict):
        self.index = BundleIndex(bundle)
        self.violations: list[Violation] = [(p.expression, p.diagnostics) for p in self.index.problems]

    def bad(self, path: str, rule: str) -> None:
        self.violations.append((path, rule))

    def roles(self) -> dict[int, list[Entry]]:
        """Each Practitioner entry's roles, by the Practitioner's entry index."""
        out: dict[int, list[Entry]] = {}
        for role in self.index.of_type("PractitionerRole"):
            reference = (role.resource.get("practitioner") or {}).get("reference", "")
            target = self.index.find(reference, role) if reference else None
            if target is None or target.type != "Practitioner" or target.contained_at is not None:
                # (one contained in the role is nobody's entry: a specialist is a Practitioner entry)
                self.bad(f"{role.path}.practitioner", "must reference a Practitioner entry of the bundle")
                continue
            out.setdefault(target.index, []).append(role)
        return out

    def organization(self, role: Entry) -> matching_pb2.DirectoryOrganization | None:
        reference = role.resource.get("organization")
        if not reference:
            return None
        target = self.index.find(reference.get("reference", ""), role)
        if target is None or target.type != "Organization":
            self.bad(f"{role.path}.organization", "must reference an Organization of the bundle")
            return None
        org = target.resource
        return matching_pb2.DirectoryOrganization(organization_id=org.get("id") or "", name=org.get("name") or "",
                                                  npi=_npi(org))

    def extension(self, entry: Entry, field: str, msg: matching_pb2.Specialist) -> None:
        url, value_key, kind = EXTENSIONS[field]
        found = [e for e in entry.resource.get("extension") or [] if e.get("url") == url]
        if len(found) > 1:
            self.bad(f"{entry.path}.extension('{url}')", "must appear at most once")
            return
        value = found[0].get(value_key) if found else DEFAULTS[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
                (kind is int and (value != int(value) or not -(2**31) <= value < 2**31)):
            self.bad(f"{entry.path}.extension('{url}').{value_key}", f"must be a{'n integer' if kind is int else ' number'}")
            return
        setattr(msg, field, kind(value))

    def notice_language(self, entry: Entry, msg: matching_pb2.Specialist) -> None:
        found = [e for e in entry.resource.get("extension") or [] if e.get("url") == NOTICE_LANGUAGE_EXT]
        if len(found) > 1:
            self.bad(f"{entry.path}.extension('{NOTICE_LANGUAGE_EXT}')", "must appear at most once")
        elif found:
            value = found[0].get("valueCode")
            if isinstance(value, str):
                msg.notice_language = value
            else:
                self.bad(f"{entry.path}.extension('{NOTICE_LANGUAGE_EXT}').valueCode", "must be a BCP-47 tag")

    def specialist(self, entry: Entry, roles: list[Entry]) -> matching_pb2.Specialist:
        p = entry.resource
        msg = matching_pb2.Specialist(specialist_id=str(p.get("id") or ""), display_name=_name(p), npi=_npi(p))
        for field in EXTENSIONS:
            self.extension(entry, field, msg)
        for communication in p.get("communication") or []:
            if language := _language(communication):
                msg.languages.append(language)
        for i, q in enumerate(p.get("qualification") or []):
            if q.get("modifierExtension"):
                self.bad(f"{entry.path}.qualification[{i}].modifierExtension", "is not understood here: a "
                         "qualification it modifies cannot be read safely")
                continue
            expires = _expires(q)
            qualifying = [ext for ext in q.get("extension") or [] if ext.get("url") in QUALIFICATION_EXTS]
            if any(_status(ext) != "active" for ext in qualifying):
                continue  # no longer held
            # In their one spelling before duplicates are dropped (207rx0202x is 207RX0202X).
            specialties = [nucc_code(str(c.get("code") or "")) for c in _codings(q.get("code"))
                           if c.get("system") in NUCC_SYSTEMS]
            if specialties:  # a board certification (Plan-Net gives those a whereValid too)
                board = (q.get("issuer") or {}).get("display") or (q.get("code") or {}).get("text") or ""
                for specialty in specialties:
                    # No end: a time-unlimited certificate (boards issued those for decades).
                    certification = matching_pb2.Certification(board=board, specialty=specialty,
                                                                expires=expires or OPEN_ENDED)
                    if certification not in msg.certifications:
                        msg.certifications.append(certification)
            elif qualifying and not expires:  # a licence always ends: one that does not say when is not read
                self.bad(f"{entry.path}.qualification[{i}].period.end", "is required for a licence: when it "
                         "ends (a specialist is offered cases only where licensed, until then)")
            elif qualifying:  # a licence to practise: one where it is valid
                places = [_jurisdiction(c) for ext in qualifying for sub in ext.get("extension") or []
                          if sub.get("url") == "whereValid" for c in _codings(sub.get("valueCodeableConcept"))]
                for licence in (matching_pb2.Licence(jurisdiction=j, expires=expires) for j in places):
                    if licence not in msg.licences:
                        msg.licences.append(licence)
        points = [point for resource in (p, *(r.resource for r in roles))
                  if isinstance(resource.get("telecom"), list) for point in resource["telecom"]]
        msg.email = _value(contacts.pick(points, contacts.EMAIL, first_use="work"))
        msg.phone = _value(contacts.pick(points, contacts.PRACTITIONER_TEXTS, first_use="work"))
        self.notice_language(entry, msg)
        accepting = p.get("active", True) is not False
        if roles:
            accepting = accepting and any(r.resource.get("active", True) is not False for r in roles)
        msg.accepting = accepting
        seen_orgs = set()
        for role in roles:
            for concept in role.resource.get("specialty") or []:
                for c in _codings(concept):
                    if c.get("system") in NUCC_SYSTEMS and c.get("code") and c["code"] not in msg.specialties:
                        msg.specialties.append(c["code"])
            org = self.organization(role)
            if org is not None and org.organization_id not in seen_orgs:
                seen_orgs.add(org.organization_id)
                msg.affiliations.append(org)
            for absence in role.resource.get("notAvailable") or []:
                during = absence.get("during") or {}
                first = str(during.get("start") or "")[:10]
                period = matching_pb2.Absence(first=first, last=str(during.get("end") or "")[:10] or
                                              (OPEN_ENDED if first else ""))
                if period not in msg.out_of_office:  # every role may say it
                    msg.out_of_office.append(period)
        return msg


def read_fhir(text: str) -> tuple[list[tuple[str, matching_pb2.Specialist]], list[Violation]]:
    """Each Practitioner as (where, message), and the violations of the bundle's shape."""
    bundle, problems = read_bundle(text.encode(), "ImportSpecialists takes a Bundle of Practitioner, "
                                   "PractitionerRole and Organization resources", MAX_ENTRIES)
    if bundle is None:
        return [], [(p.expression, p.diagnostics) for p in problems]
    reader = _Reader(bundle)
    roles = reader.roles()
    out = []
    for entry in reader.index.of_type("Practitioner"):
        where = f"Bundle.entry[{entry.index}](Practitioner/{str(entry.resource.get('id', ''))[:64]})"
        out.append((where, reader.specialist(entry, roles.get(entry.index, []))))
    for entry in reader.index.entries:
        if not entry.type:
            reader.bad(entry.path, "is required: every entry holds a resource")
        elif entry.resource.get("modifierExtension") and entry.type not in IGNORED:
            reader.bad(f"{entry.path}.modifierExtension", "is not understood here: a resource it modifies cannot be "
                                                          "read safely")
        elif entry.type not in ("Practitioner", "PractitionerRole", "Organization", *IGNORED):
            reader.bad(f"{entry.path}.resourceType", f"{entry.type} is not part of a directory: Practitioner, "
                                                     "PractitionerRole and Organization are read (and "
                                                     f"{', '.join(sorted(IGNORED))} passed over)")
    if not out and not reader.violations:
        reader.bad("Bundle.entry", "the bundle has no Practitioner")
    if len(out) > MAX_ROWS:
        reader.bad("Bundle.entry", f"more than {MAX_ROWS} practitioners: send the directory in parts")
    return out, reader.violations


def write_fhir(specialists: list[dict]) -> dict:
    """Directory documents (the seed format, as `secondlook directory generate` writes
    them) as this Bundle. Focus, declared conflicts and case kinds have no place in
    it (they are the directory's own: set them by CSV or the API)."""
    entries: list[dict] = []
    organizations: dict[str, dict] = {}
    state_of = {f"US-{s}": s for s in US_STATES}
    for s in specialists:
        sid = s["specialist_id"]
        qualifications = [{
            "code": {"text": "Medical licence"},
            "period": {"end": licence["expires"]},
            "extension": [{"url": QUALIFICATION_EXT, "extension": [
                {"url": "status", "valueCode": "active"},
                {"url": "whereValid", "valueCodeableConcept": {"coding": [
                    {"system": "https://www.usps.com/", "code": state_of[licence["jurisdiction"]]}
                    if licence["jurisdiction"] in state_of else {"code": licence["jurisdiction"]}]}}]}],
        } for licence in s["licences"]]
        qualifications += [{
            "code": {"coding": [{"system": NUCC_SYSTEM, "code": c["specialty"]}]},
            "issuer": {"display": c["board"]}, "period": {"end": c["expires"]},
        } for c in s.get("certifications", ())]
        practitioner = {
            "resourceType": "Practitioner", "id": sid, "active": s.get("accepting", True),
            "identifier": [{"system": NPI_SYSTEM, "value": s["npi"]}],
            "name": [{"text": s.get("display_name", "")}] if s.get("display_name") else [],
            "communication": [{"coding": [{"system": "urn:ietf:bcp:47", "code": lang}]} for lang in s["languages"]],
            "qualification": qualifications,
            "telecom": [*([{"system": "email", "value": s["email"], "use": "work"}] if s.get("email") else []),
                        *([{"system": "phone", "value": s["phone"], "use": "mobile"}] if s.get("phone") else [])],
            "extension": [{"url": url, value_key: s.get(field, DEFAULTS[field])}
                          for field, (url, value_key, _) in EXTENSIONS.items()]
                         + ([{"url": NOTICE_LANGUAGE_EXT, "valueCode": s["notice_language"]}]
                            if s.get("notice_language") else []),
        }
        role = {
            "resourceType": "PractitionerRole", "id": f"{sid}-role",
            "practitioner": {"reference": f"Practitioner/{sid}"},
            "specialty": [{"coding": [{"system": NUCC_SYSTEM, "code": code}]} for code in s["specialties"]],
            "notAvailable": [{"description": "Out of office", "during": {"start": a["first"], "end": a["last"]}}
                             for a in s.get("out_of_office", ())],
        }
        entries += [practitioner, role]
        for i, org in enumerate(s.get("affiliations", ())):  # a role per organisation
            organizations.setdefault(org["organization_id"], {
                "resourceType": "Organization", "id": org["organization_id"], "name": org.get("name", ""),
                "identifier": [{"system": NPI_SYSTEM, "value": org["npi"]}] if org.get("npi") else []})
            at = role if i == 0 else {"resourceType": "PractitionerRole", "id": f"{sid}-role-{i}",
                                      "practitioner": role["practitioner"]}
            at["organization"] = {"reference": f"Organization/{org['organization_id']}"}
            if i:
                entries.append(at)
    entries += organizations.values()
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"{DIRECTORY_BASE}/{e['resourceType']}/{e['id']}", "resource": _clean(e)}
                      for e in entries]}


def _clean(resource: dict) -> dict:
    """Without empty lists and strings: FHIR forbids empty elements."""
    return {k: v for k, v in resource.items() if v not in ([], "", None)}

"""A specialist as a directory admin sends one (UpsertSpecialist, an import): every
field checked at once, each violation named by its path and rule, and the
entity built only when nothing is wrong. Contact details (e-mail, phone, notice
language) are checked by the kernel's helpers intake uses for a patient's."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import date

from secondlook.codes import jurisdiction_problem, language_problem, npi_is_valid
from secondlook.v1 import matching_pb2
from secondlook.v1.case_pb2 import CaseKind
from secondlook.validation import Checks, Violation

from .directory import SECOND_OPINION, Absence, Affiliation, Certification, Licence, Specialist
from .specialty_map import CodeRange

SPECIALIST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # matched whole (fullmatch)
CALENDAR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ORGANIZATION_ID = SPECIALIST_ID
KINDS = (CaseKind.CASE_KIND_SECOND_OPINION, CaseKind.CASE_KIND_PRIOR_AUTH)
LIMITS = {"specialties": 10, "focus": 50, "licences": 60, "certifications": 20, "languages": 20,
          "affiliations": 50, "declared_conflicts": 50, "out_of_office": 50, "case_kinds": 10}
MAX_NAME = 200
MAX_CAPACITY = 1000


def _date(c: Checks, path: str, value: str) -> date | None:
    if not value:
        c.add(path, "is required (an ISO 8601 date, e.g. 2027-06-30)")
        return None
    try:
        if not CALENDAR_DATE.fullmatch(value):  # not the week or ordinal forms fromisoformat also reads
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        c.add(path, f"{value[:20]!r} is not an ISO 8601 calendar date such as 2027-06-30")
        return None


def _organizations(c: Checks, path: str, orgs) -> tuple[Affiliation, ...]:
    out = []
    for i, o in enumerate(orgs):
        where = f"{path}[{i}]"
        if not ORGANIZATION_ID.fullmatch(o.organization_id):
            c.add(f"{where}.organization_id", "is required: letters, digits, '.', '_' or '-', at most 64")
        name = c.text(f"{where}.name", o.name, MAX_NAME)
        if o.npi:
            c.npi(f"{where}.npi", o.npi, required=False)
        out.append(Affiliation(o.organization_id, name, o.npi))
    return tuple(out)


def _finite(c: Checks, path: str, value: float, low: float, high: float) -> float:
    if not math.isfinite(value) or not low <= value <= high:
        c.add(path, f"must be a number from {low:g} to {high:g}")
    return value


def nucc_code(code: str) -> str:
    """A NUCC taxonomy code in its one spelling: upper case, no spaces around (207RC0000X)."""
    return code.strip().upper()


def validate_specialist(msg: matching_pb2.Specialist, taxonomy: Collection[str]
                        ) -> tuple[Specialist | None, list[Violation]]:
    """The entity, or None and every violation. Output-only fields (active,
    free_slots, version) are ignored."""
    c = Checks()
    # Each list's entries are checked up to its limit (past it the list is refused whole).
    lists = {name: c.most(name, getattr(msg, name), limit) for name, limit in LIMITS.items()}
    if not SPECIALIST_ID.fullmatch(msg.specialist_id):
        c.add("specialist_id", "is required: letters, digits, '.', '_' or '-', at most 64, starting with a letter "
                               "or digit")
    if not msg.npi:
        c.add("npi", "is required (the specialist's 10-digit type 1 NPI)")
    elif not npi_is_valid(msg.npi):
        c.add("npi", "must be a 10-digit NPI whose last digit is its Luhn check digit")
    display_name = c.text("display_name", msg.display_name, MAX_NAME)

    if not msg.specialties:
        c.add("specialties", "at least one NUCC taxonomy code is required")
    specialties = [nucc_code(code) for code in lists["specialties"]]
    for i, code in enumerate(specialties):
        if code not in taxonomy:
            c.add(f"specialties[{i}]", f"{code[:20]!r} is not a NUCC taxonomy code the platform knows")
    if len(set(specialties)) != len(specialties):
        c.add("specialties", "lists a code twice")

    focus = []
    for i, r in enumerate(lists["focus"]):
        rng = CodeRange(r.first.strip().upper(), r.last.strip().upper())
        if problem := rng.problem():
            c.add(f"focus[{i}]", problem)
        focus.append(rng)

    if not msg.licences:
        c.add("licences", "at least one licence is required (a specialist is offered cases only where licensed)")
    licences = []
    for i, lic in enumerate(lists["licences"]):
        jurisdiction, problem = jurisdiction_problem(lic.jurisdiction)
        if problem:
            c.add(f"licences[{i}].jurisdiction", problem)
        expires = _date(c, f"licences[{i}].expires", lic.expires)
        if jurisdiction and expires:
            licences.append(Licence(jurisdiction, expires))

    certifications = []
    for i, cert in enumerate(lists["certifications"]):
        board = c.text(f"certifications[{i}].board", cert.board, MAX_NAME, required="the certifying board, e.g. ABIM")
        specialty = nucc_code(cert.specialty)
        if specialty not in taxonomy:
            c.add(f"certifications[{i}].specialty", f"{specialty[:20]!r} is not a NUCC taxonomy code the "
                                                    "platform knows")
        expires = _date(c, f"certifications[{i}].expires", cert.expires)
        if expires:
            certifications.append(Certification(board, specialty, expires))

    if not 0 <= msg.years_in_practice <= 80:
        c.add("years_in_practice", "must be from 0 to 80")

    if not msg.languages:
        c.add("languages", "at least one BCP-47 language tag is required")
    languages = []
    for i, tag in enumerate(lists["languages"]):
        standard, problem = language_problem(tag)
        if problem:
            c.add(f"languages[{i}]", problem)
        else:
            languages.append(standard)

    affiliations = _organizations(c, "affiliations", lists["affiliations"])
    conflicts = _organizations(c, "declared_conflicts", lists["declared_conflicts"])

    if not 0 <= msg.capacity <= MAX_CAPACITY:
        c.add("capacity", f"must be from 0 to {MAX_CAPACITY} cases held at once")

    absences = []
    for i, a in enumerate(lists["out_of_office"]):
        first = _date(c, f"out_of_office[{i}].first", a.first)
        last = _date(c, f"out_of_office[{i}].last", a.last)
        if first and last:
            if first > last:
                c.add(f"out_of_office[{i}]", "first comes after last")
            absences.append(Absence(first, last))

    for i, kind in enumerate(lists["case_kinds"]):
        if kind not in KINDS:
            c.add(f"case_kinds[{i}]", "must be CASE_KIND_SECOND_OPINION or CASE_KIND_PRIOR_AUTH")
    kinds = frozenset(msg.case_kinds) or frozenset({SECOND_OPINION})

    turnaround = _finite(c, "turnaround_days", msg.turnaround_days, 0, 365)
    quality = _finite(c, "quality", msg.quality, 0, 1)

    # How notices reach them, each optional.
    email = c.email("email", msg.email.strip())
    phone = c.phone("phone", msg.phone.strip(), region=licences[0].jurisdiction.split("-")[0] if licences else None)
    notice_language = c.language("notice_language", msg.notice_language.strip(), required=False)

    if c.violations:
        return None, c.violations
    return Specialist(
        specialist_id=msg.specialist_id, npi=msg.npi, display_name=display_name, specialties=tuple(specialties),
        focus=tuple(focus), licences=tuple(licences), certifications=tuple(certifications),
        years_in_practice=msg.years_in_practice, languages=frozenset(languages), affiliations=affiliations,
        declared_conflicts=conflicts, capacity=msg.capacity, free_slots=msg.capacity, accepting=msg.accepting,
        out_of_office=tuple(absences), case_kinds=kinds, turnaround_days=turnaround, quality=quality,
        email=email, phone=phone, notice_language=notice_language,
    ), []


def npi_held_elsewhere(proposed: Collection[Specialist], listed: Collection[Specialist],
                       reactivate: bool = False) -> dict[str, str]:
    """For each proposed specialist whose NPI an active specialist of the directory
    holds under another id, that id (by the proposed id). One NPI is one person: two
    ids would double their capacity and could seat them twice on a panel. The ids
    proposed are left out of the holders, as their NPIs are the ones proposed now; a
    deactivated holder is never offered again, so re-listing under a new id is allowed.
    Not checked: a proposed id that stays deactivated (no `reactivate`), and an active
    one whose listed copy has this NPI already (an update of a pair listed before the rule)."""
    replaced = {s.specialist_id for s in proposed}
    holders = {s.npi: s.specialist_id for s in listed
               if s.active and s.npi and s.specialist_id not in replaced}
    before = {s.specialist_id: s for s in listed if s.specialist_id in replaced}
    found = {}
    for s in proposed:
        was = before.get(s.specialist_id)
        if was is not None and ((not was.active and not reactivate) or (was.active and was.npi == s.npi)):
            continue
        if s.npi in holders:
            found[s.specialist_id] = holders[s.npi]
    return found

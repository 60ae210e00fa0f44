"""How a specialist is kept as a MongoDB document, and read back. Dates are
ISO calendar dates ("2031-04-28"), case kinds their enum names without the
prefix ("SECOND_OPINION"): the directory stays readable in the store."""

from __future__ import annotations

from datetime import date

from secondlook.v1.case_pb2 import CaseKind

from .domain.directory import Absence, Affiliation, Certification, Licence, Specialist
from .domain.specialty_map import CodeRange


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _kind(name: str) -> int:
    return CaseKind.Value(name if name.startswith("CASE_KIND_") else f"CASE_KIND_{name}")


def _org(d: dict) -> Affiliation:
    return Affiliation(organization_id=d.get("organization_id", ""), name=d.get("name", ""), npi=d.get("npi", ""))


def specialist_from_doc(doc: dict) -> Specialist:
    return Specialist(
        specialist_id=doc["_id"], npi=doc.get("npi", ""), display_name=doc.get("display_name", ""),
        specialties=tuple(doc["specialties"]),
        focus=tuple(CodeRange(r["first"], r["last"]) for r in doc.get("focus", ())),
        licences=tuple(Licence(lic["jurisdiction"], _day(lic["expires"])) for lic in doc.get("licences", ())),
        certifications=tuple(Certification(c.get("board", ""), c["specialty"], _day(c["expires"]))
                             for c in doc.get("certifications", ())),
        years_in_practice=int(doc.get("years_in_practice", 0)),
        languages=frozenset(doc.get("languages", ())),
        affiliations=tuple(_org(a) for a in doc.get("affiliations", ())),
        declared_conflicts=tuple(_org(a) for a in doc.get("declared_conflicts", ())),
        capacity=int(doc["capacity"]), free_slots=int(doc.get("free_slots", doc["capacity"])),
        accepting=bool(doc.get("accepting", True)),
        out_of_office=tuple(Absence(_day(a["first"]), _day(a["last"])) for a in doc.get("out_of_office", ())),
        case_kinds=frozenset(_kind(k) for k in doc.get("case_kinds", ("SECOND_OPINION",))),
        turnaround_days=float(doc.get("turnaround_days", 5.0)), quality=float(doc.get("quality", 0.8)),
        active=bool(doc.get("active", True)), version=int(doc.get("version", 0)),
        email=doc.get("email", ""), phone=doc.get("phone", ""), notice_language=doc.get("notice_language", ""),
    )


def specialist_to_doc(s: Specialist) -> dict:
    """Everything an admin sets, and the version: not the live capacity bookkeeping
    (`free_slots`, `holding`), which reservations and releases write."""
    def org(a: Affiliation) -> dict:
        return {"organization_id": a.organization_id, "name": a.name, "npi": a.npi}

    return {
        "_id": s.specialist_id, "npi": s.npi, "display_name": s.display_name, "specialties": list(s.specialties),
        "focus": [{"first": r.first, "last": r.last} for r in s.focus],
        "licences": [{"jurisdiction": lic.jurisdiction, "expires": lic.expires.isoformat()} for lic in s.licences],
        "certifications": [{"board": c.board, "specialty": c.specialty, "expires": c.expires.isoformat()}
                           for c in s.certifications],
        "years_in_practice": s.years_in_practice, "languages": sorted(s.languages),
        "affiliations": [org(a) for a in s.affiliations], "declared_conflicts": [org(a) for a in s.declared_conflicts],
        "capacity": s.capacity, "accepting": s.accepting,
        "out_of_office": [{"first": a.first.isoformat(), "last": a.last.isoformat()} for a in s.out_of_office],
        "case_kinds": sorted(CaseKind.Name(k).removeprefix("CASE_KIND_") for k in s.case_kinds),
        "turnaround_days": s.turnaround_days, "quality": s.quality, "active": s.active, "version": s.version,
        "email": s.email, "phone": s.phone, "notice_language": s.notice_language,
    }

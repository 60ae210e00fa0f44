"""A specialist as the directory knows them: who they are (NPI), what they can
review (NUCC specialties, a subspecialty focus as ICD-10-CM ranges), where
(licences) and with what standing (board certifications), in which languages,
with whom they are affiliated or declare a conflict, and how much they can take
(capacity, availability, case kinds). No PHI: a specialist is a professional
listed by the platform, not a patient."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from secondlook.v1.case_pb2 import CaseKind

from .specialty_map import CodeRange

SECOND_OPINION = CaseKind.CASE_KIND_SECOND_OPINION
PRIOR_AUTH = CaseKind.CASE_KIND_PRIOR_AUTH


@dataclass(frozen=True)
class Licence:
    jurisdiction: str  # ISO 3166-2, e.g. US-CA
    expires: date  # the last day it is valid


@dataclass(frozen=True)
class Certification:
    board: str  # e.g. "ABIM"
    specialty: str  # the NUCC code it certifies
    expires: date


@dataclass(frozen=True)
class Affiliation:
    organization_id: str  # the platform's id for the organisation (a tenant's id is one)
    name: str = ""
    npi: str = ""  # the organisation's NPI, when it has one


@dataclass(frozen=True)
class Absence:
    """Out of office from `first` to `last`, both days included."""

    first: date
    last: date

    def holds(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class Specialist:
    specialist_id: str
    npi: str
    specialties: tuple[str, ...]  # NUCC taxonomy codes
    licences: tuple[Licence, ...]
    languages: frozenset[str]  # BCP-47
    capacity: int
    free_slots: int
    accepting: bool = True
    display_name: str = ""
    focus: tuple[CodeRange, ...] = ()  # subspecialty focus
    certifications: tuple[Certification, ...] = ()
    years_in_practice: int = 0
    affiliations: tuple[Affiliation, ...] = ()
    declared_conflicts: tuple[Affiliation, ...] = ()  # organisations they must not review for
    out_of_office: tuple[Absence, ...] = ()
    case_kinds: frozenset[int] = field(default_factory=lambda: frozenset({SECOND_OPINION}))
    turnaround_days: float = 5.0  # median days from offer to opinion, so far
    quality: float = 0.8  # 0..1, from reviews of their opinions
    active: bool = True  # deactivated specialists stay listed, never offered

    def licensed_in(self, jurisdiction: str, day: date) -> bool:
        return any(lic.jurisdiction == jurisdiction and lic.expires >= day for lic in self.licences)

    def jurisdictions(self) -> frozenset[str]:
        return frozenset(lic.jurisdiction for lic in self.licences)

    def certified_in(self, specialties: tuple[str, ...], day: date) -> bool:
        return any(c.specialty in specialties and c.expires >= day for c in self.certifications)

    def away_on(self, day: date) -> bool:
        return any(a.holds(day) for a in self.out_of_office)

"""A specialist as the directory knows them: who they are (NPI), what they can
review (NUCC specialties, a subspecialty focus as ICD-10-CM ranges), where
(licences) and with what standing (board certifications), in which languages,
with whom they are affiliated or declare a conflict, and how much they can take
(capacity, availability, case kinds). No PHI: a specialist is a professional
listed by the platform, not a patient."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime

from secondlook.events import Event, new_event
from secondlook.v1 import events_pb2
from secondlook.v1.case_pb2 import CaseKind

from .specialty_map import CodeRange

SECOND_OPINION = CaseKind.CASE_KIND_SECOND_OPINION
PRIOR_AUTH = CaseKind.CASE_KIND_PRIOR_AUTH


class AlreadyListed(Exception):
    """A specialist was created under this id meanwhile."""


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
    version: int = 0  # goes up with every admin change (0: not in the directory yet)
    # How notices reach them (contact details: never in an event; GetSpecialistContact).
    email: str = ""  # work e-mail, normalised
    phone: str = ""  # mobile, E.164
    notice_language: str = ""  # BCP-47; empty: see language_of_notices

    def with_free_slots(self, free_slots: int) -> Specialist:
        return dataclasses.replace(self, free_slots=free_slots)

    def licensed_in(self, jurisdiction: str, day: date) -> bool:
        return any(lic.jurisdiction == jurisdiction and lic.expires >= day for lic in self.licences)

    def jurisdictions(self) -> frozenset[str]:
        return frozenset(lic.jurisdiction for lic in self.licences)

    def certified_in(self, specialties: tuple[str, ...], day: date) -> bool:
        return any(c.specialty in specialties and c.expires >= day for c in self.certifications)

    def away_on(self, day: date) -> bool:
        return any(a.holds(day) for a in self.out_of_office)

    def language_of_notices(self) -> str:
        """The language notices to them are written in: their notice language, else
        the first of their languages as the directory lists them (sorted), else English."""
        return self.notice_language or min(self.languages, default="") or "en"


def listed(current: Specialist | None, proposed: Specialist, reactivate: bool = False) -> Specialist:
    """What the directory holds after an admin sends `proposed`: the next version,
    active as before (a deactivated specialist comes back only when asked to), and
    the slots in use kept (free slots follow the new capacity; they go below zero
    when the capacity drops under what is held, and come back as opinions give
    slots back)."""
    if current is None:
        return dataclasses.replace(proposed, free_slots=proposed.capacity, active=True, version=1)
    held = current.capacity - current.free_slots
    return dataclasses.replace(proposed, free_slots=proposed.capacity - held, active=current.active or reactivate,
                               version=current.version + 1)


def changes_nothing(current: Specialist | None, saved: Specialist) -> bool:
    """Whether `saved` (what `listed` made) is what the directory already holds, but for
    its version: an upsert of the same details is no new version, and nothing to tell."""
    # A specialist seeded without a version (0, which expected_version reads as "any")
    # takes version 1 on any upsert, so that optimistic concurrency can be used on it.
    return current is not None and current.version > 0 and \
        dataclasses.replace(saved, version=current.version) == current


def deactivated(current: Specialist) -> Specialist:
    return dataclasses.replace(current, active=False, version=current.version + 1)


def specialist_changed(s: Specialist, *, created: bool, now: datetime) -> Event:
    """The directory event of a change (keyed by the specialist; no PHI, and none of
    their contact details: e-mail, phone and notice language stay in matching)."""
    payload = events_pb2.SpecialistChanged(
        specialist_id=s.specialist_id, version=s.version, created=created, active=s.active, accepting=s.accepting,
        capacity=s.capacity, specialties=list(s.specialties),
        jurisdictions=sorted({lic.jurisdiction for lic in s.licences if lic.expires >= now.date()}),
        languages=sorted(s.languages),
    )
    return new_event(payload, case_id=s.specialist_id, tenant_id="", producer="matching", occurred_at=now)


# What each channel of notify's needs of a specialist's contact (GetSpecialistContact).
CONTACT_CHANNELS = {"email": ("email", "language"), "sms": ("phone", "language")}


@dataclass(frozen=True)
class Contact:
    """How to reach a specialist by some channels: what they do not need is empty."""

    specialist_id: str
    email: str = ""
    phone: str = ""
    language: str = ""


def contact_for(s: Specialist, channels: tuple[str, ...]) -> Contact:
    """Only what the channels need (email: the address and language; sms: the phone and language)."""
    wanted = {part for channel in channels for part in CONTACT_CHANNELS[channel]}
    return Contact(s.specialist_id, email=s.email if "email" in wanted else "",
                   phone=s.phone if "phone" in wanted else "",
                   language=s.language_of_notices() if "language" in wanted else "")


@dataclass(frozen=True)
class DirectoryQuery:
    """ListSpecialists' filters; empty ones let everyone through."""

    specialty: str = ""
    jurisdiction: str = ""
    language: str = ""  # by its primary subtag
    accepting_only: bool = False

    def matches(self, s: Specialist, today: date) -> bool:
        if self.specialty and self.specialty not in s.specialties:
            return False
        if self.jurisdiction and not s.licensed_in(self.jurisdiction, today):
            return False
        primary = self.language.split("-")[0].lower()
        if primary and primary not in {lang.split("-")[0].lower() for lang in s.languages}:
            return False
        return not self.accepting_only or (s.accepting and s.active)

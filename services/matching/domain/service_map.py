"""Which specialties may decide a prior-authorization request for a service, and
which specialties are similar enough to stand in for one another.

The map is data (services/matching/reference/service_specialty_map.v1.json):
CPT and HCPCS ranges, each with its NUCC specialties best first, read in order
so that the first range holding a code decides; and groups of similar
specialties. An X12 service type names no procedure: the diagnosis decides the
specialty then (specialty_map.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from secondlook.codes import procedure_code_problem


@dataclass(frozen=True)
class ServiceRange:
    """Codes of one system from `first` to `last`, inclusive. CPT and HCPCS codes
    of one shape order as text (five characters: all digits, or one letter then
    four digits), so a plain comparison holds between codes of the ends' shape; a
    CPT Category II or III code (four digits and F or T) is of another shape and
    in no numeric range."""

    system: str  # CPT or HCPCS
    first: str
    last: str

    def covers(self, system: str, code: str) -> bool:
        code = code.strip().upper()
        return (system == self.system and len(code) == len(self.first) and code[1:].isdigit()
                and code[0].isdigit() == self.first[0].isdigit() and self.first <= code <= self.last)

    def problem(self) -> str | None:
        for end in (self.first, self.last):
            if (found := procedure_code_problem(self.system, end)) is not None:
                return f"{end[:20]!r}: {found[1]}"
        if self.first > self.last:
            return f"{self.first} comes after {self.last}"
        return None


@dataclass(frozen=True)
class ServiceEntry:
    codes: ServiceRange
    area: str
    specialties: tuple[str, ...]


@dataclass(frozen=True)
class ServiceSpecialtyMap:
    version: str
    entries: tuple[ServiceEntry, ...]
    groups: tuple[frozenset[str], ...]  # similar specialties

    def specialties_for(self, system: str, code: str) -> tuple[str, ...]:
        """The specialties that may decide the service, best first; empty when the map has none."""
        entry = next((e for e in self.entries if e.codes.covers(system, code)), None)
        return entry.specialties if entry else ()

    def similar(self, a: str, b: str) -> bool:
        """The same specialty, or two of one group."""
        return a == b or any(a in g and b in g for g in self.groups)

    def _with_similar(self, specialties: tuple[str, ...]) -> tuple[str, ...]:
        """The specialties, then those similar to them (a group's, in code order)."""
        wanted = set(specialties)
        similar = sorted({m for g in self.groups if g & wanted for m in g} - wanted)
        return (*specialties, *similar)

    def deciders(self, services: Sequence[tuple[str, str]], by_diagnosis: tuple[str, ...]) -> tuple[str, ...]:
        """The specialties that may decide every one of the services, best first (the
        first service's order): for each, the map's specialties and those similar to
        them; for a service the map names none for (an X12 service type, a code in no
        range), the diagnosis's (`by_diagnosis`) and those similar. Empty when no
        specialty may decide them all: one reviewer decides the whole request."""
        allowed: list[tuple[str, ...]] = [self._with_similar(self.specialties_for(system, code) or by_diagnosis)
                                          for system, code in services]
        if not allowed:
            return ()
        common = set(allowed[0]).intersection(*allowed[1:])
        return tuple(s for s in allowed[0] if s in common)

    def qualifies(self, reviewer_specialties: Collection[str], system: str, code: str) -> bool:
        """Whether a reviewer of these specialties is of the same or a similar specialty as
        the service (False when the map names none for it)."""
        wanted = self.specialties_for(system, code)
        return any(self.similar(mine, w) for mine in reviewer_specialties for w in wanted)

    @classmethod
    def from_document(cls, doc: Mapping, taxonomy: Collection[str]) -> ServiceSpecialtyMap:
        """The map a parsed document describes; ValueError naming the entry and the rule
        when a range is not of its system's shape, a specialty is not in the taxonomy,
        or a range can never decide (a wider range before it holds all of it)."""
        entries: list[ServiceEntry] = []
        for i, raw in enumerate(doc.get("ranges", [])):
            where = f"ranges[{i}]"
            codes = ServiceRange(str(raw.get("system", "")), str(raw.get("first", "")), str(raw.get("last", "")))
            if codes.system not in ("CPT", "HCPCS"):
                raise ValueError(f"{where}.system: must be CPT or HCPCS")
            if problem := codes.problem():
                raise ValueError(f"{where}: {problem}")
            specialties = tuple(raw.get("specialties", ()))
            if not specialties:
                raise ValueError(f"{where}.specialties: at least one")
            unknown = [s for s in specialties if s not in taxonomy]
            if unknown:
                raise ValueError(f"{where}.specialties: {unknown[0]!r} is not in the NUCC taxonomy")
            hidden = next((e for e in entries if e.codes.covers(codes.system, codes.first)
                           and e.codes.covers(codes.system, codes.last)), None)
            if hidden is not None:
                raise ValueError(f"{where}: {codes.first}-{codes.last} lies inside {hidden.codes.first}-"
                                 f"{hidden.codes.last} before it, so it never decides")
            entries.append(ServiceEntry(codes, str(raw.get("area", "")), specialties))
        groups = []
        for i, raw in enumerate(doc.get("similar", [])):
            members = frozenset(raw.get("specialties", ()))
            unknown = sorted(members - set(taxonomy))
            if unknown:
                raise ValueError(f"similar[{i}].specialties: {unknown[0]!r} is not in the NUCC taxonomy")
            groups.append(members)
        return cls(str(doc.get("version", "")), tuple(entries), tuple(groups))

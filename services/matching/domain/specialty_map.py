"""Which specialties can give a second opinion on a diagnosis.

The map is data, not code (services/matching/reference/specialty_map.v1.json):
ICD-10-CM ranges, each with its NUCC taxonomy specialties best-first, read in
order so that the first range holding a code decides (a narrower range comes
before the wider one it sits in). This module reads the parsed document and
checks it; the reference package reads the file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from secondlook.codes import icd10_code_exists


def _plain(code: str) -> str:
    return code.strip().upper().replace(".", "")


@dataclass(frozen=True)
class CodeRange:
    """ICD-10-CM codes from `first` to `last`, inclusive, at the depth each end is
    written to: C50-C50 holds every breast cancer code, C50.1-C50.4 only those
    sub-sites (and a code less specific than an end is outside it)."""

    first: str
    last: str

    def covers(self, code: str) -> bool:
        plain, first, last = _plain(code), _plain(self.first), _plain(self.last)
        return plain[:len(first)] >= first and plain[:len(last)] <= last

    def problem(self) -> str | None:
        """The rule this range breaks, or None."""
        for end in (self.first, self.last):
            if not icd10_code_exists(end):
                return f"{end[:20]!r} is not an ICD-10-CM category or code"
        if _plain(self.first) > _plain(self.last):
            return f"{self.first} comes after {self.last}"
        return None

    def __str__(self) -> str:
        return self.first if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class MapEntry:
    codes: CodeRange
    area: str
    specialties: tuple[str, ...]  # NUCC taxonomy codes, best first


@dataclass(frozen=True)
class SpecialtyMap:
    version: str
    entries: tuple[MapEntry, ...]

    def entry_for(self, diagnosis_code: str) -> MapEntry | None:
        return next((e for e in self.entries if e.codes.covers(diagnosis_code)), None)

    def specialties_for(self, diagnosis_code: str) -> tuple[str, ...]:
        """The specialties covering the code, best first; empty when none does."""
        entry = self.entry_for(diagnosis_code)
        return entry.specialties if entry else ()

    @classmethod
    def from_document(cls, doc: Mapping, taxonomy: Collection[str]) -> SpecialtyMap:
        """The map a parsed document describes; ValueError naming the entry and the
        rule when a range is not ICD-10-CM, a specialty is not in the taxonomy, or
        a range can never decide (wider ranges before it hold all of it)."""
        entries = []
        for i, raw in enumerate(doc.get("ranges", [])):
            where = f"ranges[{i}]"
            codes = CodeRange(str(raw.get("first", "")), str(raw.get("last", "")))
            if problem := codes.problem():
                raise ValueError(f"{where}: {problem}")
            specialties = tuple(raw.get("specialties", ()))
            if not specialties:
                raise ValueError(f"{where}: names no specialty")
            unknown = [s for s in specialties if s not in taxonomy]
            if unknown:
                raise ValueError(f"{where}: {', '.join(unknown)} not in the NUCC taxonomy list")
            if len(set(specialties)) != len(specialties):
                raise ValueError(f"{where}: names a specialty twice")
            shadow = next((e for e in entries if e.codes.covers(codes.first) and e.codes.covers(codes.last)), None)
            if shadow is not None:
                raise ValueError(f"{where}: {codes} is never reached: {shadow.codes} before it holds it")
            entries.append(MapEntry(codes, str(raw.get("area", "")), specialties))
        if not entries:
            raise ValueError("ranges: the map is empty")
        return cls(version=str(doc.get("version", "")), entries=tuple(entries))

"""Choosing a specialist: named hard rules first, then an explainable score.

Every hard rule is a `Rule` with a name; a specialist is eligible when no rule
excludes them, and `screen` says which rule did. Among the eligible, the score
(0..1) weighs how well the specialty fits the diagnosis (its place in the
specialty map, and the specialist's own subspecialty focus), how free they are,
how fast they turn cases around against the case's clock, and the quality of
their opinions; the weights come from settings. Ties go to a stable hash of the
case and the specialist: the same input always gives the same ranking, and
equally good specialists share the work across cases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from secondlook.v1.case_pb2 import Urgency

from .directory import Specialist
from .service_map import ServiceSpecialtyMap


@dataclass(frozen=True)
class Service:
    """One service a prior-authorization request asks for: codes, no PHI."""

    key: str
    system: str  # CPT, HCPCS or X12-1365
    code: str
    quantity: float = 1.0
    unit: str = ""


@dataclass(frozen=True)
class CaseFacts:
    """What matching knows of a case (no PHI: codes, places, organisations)."""

    case_id: str
    diagnosis_code: str
    jurisdiction: str
    language: str
    tenant_id: str = ""
    kind: int = 1  # CaseKind; 0 (unspecified) reads as SECOND_OPINION
    urgency: int = Urgency.URGENCY_STANDARD
    secondary_diagnosis_codes: tuple[str, ...] = ()
    first_opinion_physician_npi: str = ""
    first_opinion_organization: str = ""
    first_opinion_organization_npi: str = ""
    panel_requested: bool = False
    blind_review_requested: bool = False
    records: int = 0  # the case's attachments when submitted
    requested_services: tuple[Service, ...] = ()  # a PRIOR_AUTH case's items
    received_at: datetime | None = None  # when intake received the case (a prior authorization's clock starts)

    @property
    def services(self) -> tuple[tuple[str, str], ...]:
        return tuple((s.system, s.code) for s in self.requested_services)


@dataclass(frozen=True)
class Weights:
    fit: float = 0.35
    load: float = 0.25
    turnaround: float = 0.2
    quality: float = 0.2


@dataclass(frozen=True)
class Wanted:
    """The specialties that cover the case, best first, and whether they came from a
    secondary diagnosis (when settings allow that)."""

    specialties: tuple[str, ...]
    from_secondary: bool = False
    for_services: bool = False  # a prior authorization's: qualified to decide every requested service


@dataclass(frozen=True)
class Rule:
    name: str
    meaning: str
    passes: Callable[[Specialist, CaseFacts, Wanted, date], bool]


def _speaks(s: Specialist, language: str) -> bool:
    primary = language.split("-")[0].lower()
    return any(lang.split("-")[0].lower() == primary for lang in s.languages)


def _same_org(a: str, b: str) -> bool:
    return bool(a.strip()) and a.strip().casefold() == b.strip().casefold()


def _affiliated_with_first_opinion(s: Specialist, f: CaseFacts) -> bool:
    return any((f.first_opinion_organization_npi and org.npi == f.first_opinion_organization_npi)
               or _same_org(org.name, f.first_opinion_organization)
               or _same_org(org.organization_id, f.first_opinion_organization) for org in s.affiliations)


def _declared_conflict(s: Specialist, f: CaseFacts) -> bool:
    return any((f.first_opinion_organization_npi and org.npi == f.first_opinion_organization_npi)
               or _same_org(org.name, f.first_opinion_organization)
               or _same_org(org.organization_id, f.first_opinion_organization)
               or _same_org(org.organization_id, f.tenant_id) for org in s.declared_conflicts)


RULES: tuple[Rule, ...] = (
    Rule("active", "listed and not deactivated", lambda s, f, w, d: s.active),
    Rule("covers_diagnosis", "has a specialty the specialty map gives the diagnosis",
         lambda s, f, w, d: any(x in s.specialties for x in w.specialties)),
    Rule("licensed_in_jurisdiction", "holds an unexpired licence in the patient's jurisdiction",
         lambda s, f, w, d: s.licensed_in(f.jurisdiction, d)),
    Rule("board_certified", "an unexpired board certification in a covering specialty",
         lambda s, f, w, d: s.certified_in(tuple(x for x in w.specialties if x in s.specialties), d)),
    Rule("accepts_case_kind", "takes cases of this kind",
         lambda s, f, w, d: (f.kind or 1) in s.case_kinds),
    Rule("accepting", "accepting new cases", lambda s, f, w, d: s.accepting),
    Rule("not_out_of_office", "not out of office today", lambda s, f, w, d: not s.away_on(d)),
    Rule("under_capacity", "has a free slot", lambda s, f, w, d: s.free_slots > 0),
    Rule("speaks_language", "speaks the case's language", lambda s, f, w, d: _speaks(s, f.language)),
    Rule("not_first_opinion_physician", "did not give the first opinion",
         lambda s, f, w, d: not (f.first_opinion_physician_npi and s.npi == f.first_opinion_physician_npi)),
    Rule("not_affiliated_with_first_opinion", "not affiliated with the first opinion's organisation",
         lambda s, f, w, d: not _affiliated_with_first_opinion(s, f)),
    Rule("not_affiliated_with_submitter", "not affiliated with the submitting organisation",
         lambda s, f, w, d: not any(_same_org(org.organization_id, f.tenant_id) for org in s.affiliations)),
    Rule("no_declared_conflict", "declares no conflict with the organisations of the case",
         lambda s, f, w, d: not _declared_conflict(s, f)),
)
RULE_NAMES = tuple(r.name for r in RULES)


def full_but_eligible(facts: CaseFacts, wanted: Wanted, directory: list[Specialist], day: date) -> list[Specialist]:
    """Those of `directory` only a free slot keeps from the case, and who have slots to
    free (a capacity of 0 frees none): the case may wait for one of theirs."""
    rules = [r for r in RULES if r.name != "under_capacity"]
    return [s for s in directory
            if s.free_slots <= 0 < s.capacity and all(r.passes(s, facts, wanted, day) for r in rules)]


def screen(s: Specialist, facts: CaseFacts, wanted: Wanted, day: date) -> Rule | None:
    """The first hard rule that excludes the specialist, or None: eligible."""
    return next((r for r in RULES if not r.passes(s, facts, wanted, day)), None)


@dataclass(frozen=True)
class Score:
    fit: float
    load: float
    turnaround: float
    quality: float
    total: float


@dataclass(frozen=True)
class Candidate:
    specialist: Specialist
    specialty: str
    score: Score
    explanation: str
    tiebreak: str


# The case's clock (FIELD_NOTES: CMS-0057-F): a turnaround this long scores 0.
CLOCK_DAYS = {Urgency.URGENCY_EXPEDITED: 3.0, Urgency.URGENCY_STANDARD: 7.0}
# Fit: the specialty's place in the map, and a focus covering the diagnosis.
FIT_PLACE, FIT_FOCUS = 0.7, 0.3


def turnaround_part(s: Specialist, urgency: int) -> float:
    clock = CLOCK_DAYS.get(urgency, CLOCK_DAYS[Urgency.URGENCY_STANDARD])
    return round(max(0.0, 1.0 - max(s.turnaround_days, 0.0) / clock), 4)


def quality_part(s: Specialist) -> float:
    return round(min(max(s.quality, 0.0), 1.0), 4)


def score(s: Specialist, facts: CaseFacts, wanted: Wanted, weights: Weights) -> tuple[str, Score]:
    """The covering specialty it is offered under, and the score's components."""
    covering = [x for x in wanted.specialties if x in s.specialties]
    specialty = covering[0]
    place = 1.0 - wanted.specialties.index(specialty) / len(wanted.specialties)
    focused = any(r.covers(facts.diagnosis_code) for r in s.focus)
    fit = round(FIT_PLACE * place + FIT_FOCUS * focused, 4)
    load = round(min(1.0, s.free_slots / s.capacity), 4) if s.capacity else 0.0
    turnaround, quality = turnaround_part(s, facts.urgency), quality_part(s)
    total = round(weights.fit * fit + weights.load * load + weights.turnaround * turnaround
                  + weights.quality * quality, 4)
    return specialty, Score(fit, load, turnaround, quality, total)


def candidate_of(s: Specialist, facts: CaseFacts, wanted: Wanted, weights: Weights) -> Candidate:
    """An eligible specialist, scored and explained."""
    specialty, parts = score(s, facts, wanted, weights)
    explanation = (
        f"specialty {specialty} covers {facts.diagnosis_code}; licensed in {facts.jurisdiction}; "
        f"speaks {facts.language}; load {s.capacity - s.free_slots}/{s.capacity}; "
        f"fit {parts.fit:.2f} free {parts.load:.2f} turnaround {parts.turnaround:.2f} "
        f"quality {parts.quality:.2f} -> score {parts.total:.2f}"
    )
    return Candidate(s, specialty, parts, explanation, _tiebreak(facts.case_id, s.specialist_id))


def _tiebreak(case_id: str, specialist_id: str) -> str:
    return hashlib.sha256(f"{case_id}\x00{specialist_id}".encode()).hexdigest()


def wanted_for(facts: CaseFacts, specialties_for: Callable[[str], tuple[str, ...]],
               cover_secondary: bool = False, service_map: ServiceSpecialtyMap | None = None) -> Wanted:
    """The specialties the primary diagnosis calls for; with `cover_secondary`, and
    nobody mapped for the primary, those of the first secondary that has some. A
    prior-authorization request's (given the service map): the specialties of the
    same or a similar specialty as every service it asks for."""
    primary = specialties_for(facts.diagnosis_code)
    if facts.services and service_map is not None:
        return Wanted(service_map.deciders(facts.services, primary), for_services=True)
    if primary or not cover_secondary:
        return Wanted(primary)
    for code in facts.secondary_diagnosis_codes:
        if found := specialties_for(code):
            return Wanted(found, from_secondary=True)
    return Wanted(())


@dataclass(frozen=True)
class Verdict:
    """What the rules and the score made of one specialist: excluded by a named rule,
    or a candidate with its score (what ExplainMatch reports)."""

    specialist: Specialist
    excluded_by: Rule | None
    candidate: Candidate | None


def assess(facts: CaseFacts, wanted: Wanted, directory: list[Specialist], day: date,
           weights: Weights = Weights()) -> list[Verdict]:
    """One verdict per specialist of `directory`, in its order."""
    verdicts = []
    for s in directory:
        rule = screen(s, facts, wanted, day) if wanted.specialties else RULES[1]  # nothing covers the diagnosis
        verdicts.append(Verdict(s, rule, None) if rule is not None
                        else Verdict(s, None, candidate_of(s, facts, wanted, weights)))
    return verdicts


def rank(facts: CaseFacts, wanted: Wanted, directory: list[Specialist], day: date,
         weights: Weights = Weights()) -> tuple[list[Candidate], str]:
    """Eligible candidates best-first, and why nobody is eligible when the list is empty."""
    if not wanted.specialties and wanted.for_services:
        return [], ("no one specialty may decide every requested service "
                    f"({', '.join(code for _, code in facts.services)}) under the service map")
    if not wanted.specialties:
        return [], f"no specialty in the specialty map covers {facts.diagnosis_code}"
    verdicts = assess(facts, wanted, directory, day, weights)
    ranked = sorted((v.candidate for v in verdicts if v.candidate is not None),
                    key=lambda c: (-c.score.total, c.tiebreak))
    if ranked:
        return ranked, ""
    excluded: dict[str, int] = {}
    for v in verdicts:
        excluded[v.excluded_by.name] = excluded.get(v.excluded_by.name, 0) + 1
    failed = ", ".join(f"{n} excluded by {rule}" for rule, n in sorted(excluded.items()))
    failed = failed or f"nobody listed has {' or '.join(wanted.specialties)} and a licence in {facts.jurisdiction}"
    return [], f"no eligible specialist for {facts.diagnosis_code} in {facts.jurisdiction}: {failed}"

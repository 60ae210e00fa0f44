"""Choosing a specialist: hard rules first, then an explainable score.

Hard rules: a specialty that covers the diagnosis, a licence in the patient's
jurisdiction, accepting new cases with a free slot, and the patient's language.
Score (0..1): how well the specialty fits (first-listed fits best), how free
the specialist is, and how fast they have turned cases around.
"""

from __future__ import annotations

from dataclasses import dataclass

from .specialties import specialties_for


@dataclass(frozen=True)
class CaseFacts:
    diagnosis_code: str
    jurisdiction: str
    language: str


@dataclass(frozen=True)
class Specialist:
    specialist_id: str
    specialties: tuple[str, ...]
    licensed_in: frozenset[str]
    languages: frozenset[str]
    capacity: int
    free_slots: int
    accepting: bool
    turnaround_days: float


@dataclass(frozen=True)
class Candidate:
    specialist: Specialist
    specialty: str
    score: float
    explanation: str


def _speaks(specialist: Specialist, language: str) -> bool:
    primary = language.split("-")[0].lower()
    return any(lang.split("-")[0].lower() == primary for lang in specialist.languages)


def rank(facts: CaseFacts, directory: list[Specialist]) -> tuple[list[Candidate], str]:
    """Eligible candidates best-first, and why nobody is eligible when the list is empty."""
    wanted = specialties_for(facts.diagnosis_code)
    if not wanted:
        return [], f"no specialty in the directory's table covers {facts.diagnosis_code}"
    reasons = {"specialty": 0, "licence": 0, "capacity": 0, "language": 0}
    ranked: list[Candidate] = []
    for s in directory:
        covering = [w for w in wanted if w in s.specialties]
        if not covering:
            reasons["specialty"] += 1
            continue
        if facts.jurisdiction not in s.licensed_in:
            reasons["licence"] += 1
            continue
        if not s.accepting or s.free_slots <= 0:
            reasons["capacity"] += 1
            continue
        if not _speaks(s, facts.language):
            reasons["language"] += 1
            continue
        specialty = covering[0]
        fit = 1.0 - wanted.index(specialty) / len(wanted)
        free = s.free_slots / s.capacity if s.capacity else 0.0
        speed = 1.0 / (1.0 + max(s.turnaround_days, 0.0) / 3.0)
        score = round(0.5 * fit + 0.3 * free + 0.2 * speed, 4)
        explanation = (
            f"specialty {specialty} covers {facts.diagnosis_code}; licensed in {facts.jurisdiction}; "
            f"speaks {facts.language}; load {s.capacity - s.free_slots}/{s.capacity}; "
            f"fit {fit:.2f} free {free:.2f} speed {speed:.2f} -> score {score:.2f}"
        )
        ranked.append(Candidate(s, specialty, score, explanation))
    ranked.sort(key=lambda c: (-c.score, c.specialist.specialist_id))
    if ranked:
        return ranked, ""
    failed = ", ".join(f"{n} lacked {rule}" for rule, n in reasons.items() if n)
    failed = failed or f"no specialist of {', '.join(wanted)} is licensed there"
    return [], f"no eligible specialist for {facts.diagnosis_code} in {facts.jurisdiction}: {failed}"

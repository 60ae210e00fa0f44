"""What reviewers write, sealed for review's store and opened from it.

A reviewer's words are PHI (domain/opinion.py): they are sealed with review's data key
(`secondlook.phi`, explicit client-side encryption) before they are written, and opened
after they are read. An opinion's texts, and the display names of the procedures it
recommends, are one sealed value (`texts`); a blind assessment's treatment and display
names another; a decline's note a third. Codes, ids, states and times stay in clear
for queries and events.

`opened` turns a stored document back into the shape the repository's readers parse,
which is also the shape documents had before sealing: those read as they are until
`repository.seal_legacy_texts` seals them (at start, and `secondlook review seal-texts`).
"""

from __future__ import annotations

from secondlook.phi import PhiCipher

from .domain.assignment import Assignment
from .domain.opinion import Assessment, OpinionRecord

PHI_KEY = "review-phi"  # the data key's name in the PHI key vault
OPINION_TEXTS = ("recommendation", "narrative", "further_tests", "patient_summary", "amendment_reason")


def _coded(procedures) -> list[list[str]]:
    """(system, code) of each procedure: what stays in clear."""
    return [[system, code] for system, code, _ in procedures]


def _displayed(procedures: list, displays: list[str] | None) -> list:
    """The procedures with their display names back (as they are when none were sealed)."""
    if displays is None:
        return procedures
    return [[p[0], p[1], display] for p, display in zip(procedures, displays, strict=True)]


async def sealed_assessment(a: Assessment | None, cipher: PhiCipher) -> dict:
    if a is None:
        return {}
    texts = {"treatment": a.treatment, "procedure_displays": [display for _, _, display in a.procedures]}
    return {"assessment": {"diagnosis_code": a.diagnosis_code, "procedures": _coded(a.procedures),
                           "recorded_at": a.recorded_at, "texts": await cipher.seal(texts)}}


async def sealed_decline(a: Assignment, cipher: PhiCipher) -> dict:
    if not a.decline_reason:
        return {}
    return {"decline_reason": a.decline_reason,
            "decline_note": await cipher.seal(a.decline_note) if a.decline_note else ""}


async def sealed_opinion(o: OpinionRecord, cipher: PhiCipher) -> dict:
    """The opinion's fields that hold what the reviewer wrote."""
    texts = {**{name: getattr(o, name) for name in OPINION_TEXTS}, "further_tests": list(o.further_tests),
             "procedure_displays": [display for _, _, display in o.procedures]}
    return {"procedures": _coded(o.procedures), "texts": await cipher.seal(texts),
            **await sealed_assessment(o.assessment, cipher)}


def is_sealed(doc: dict) -> bool:
    """Whether anything in an assignment or opinion document is sealed (or may be)."""
    return "texts" in doc or bool(doc.get("decline_note")) or bool(doc.get("assessment"))


async def opened(doc: dict, cipher: PhiCipher) -> dict:
    """`doc` with what is sealed in it opened (the same `doc` when nothing is)."""
    if not is_sealed(doc):
        return doc
    doc = dict(doc)
    if "texts" in doc:
        texts = await cipher.open(doc.pop("texts"))
        doc["procedures"] = _displayed(doc.get("procedures", []), texts.pop("procedure_displays", None))
        doc.update(texts)
    if doc.get("decline_note"):
        doc["decline_note"] = await cipher.open(doc["decline_note"])
    if doc.get("assessment"):
        assessment = dict(doc["assessment"])
        if "texts" in assessment:
            texts = await cipher.open(assessment.pop("texts"))
            assessment["procedures"] = _displayed(assessment["procedures"], texts["procedure_displays"])
            assessment["treatment"] = texts["treatment"]
        else:  # its treatment sealed alone (the first sealed shape), or in clear
            assessment["treatment"] = await cipher.open(assessment["treatment"])
        doc["assessment"] = assessment
    return doc

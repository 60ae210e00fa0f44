"""How a case is kept as a MongoDB document, and read back. Cases written before
the complete model (a name, a birth date, a free-text treatment) still read."""

from __future__ import annotations

from dataclasses import asdict

from .domain.case import Case
from .domain.content import Attachment, Consent, Diagnosis, FirstOpinion, Identifier, Patient, ProcedureCode
from .domain.lifecycle import TimelineEntry


def entry_doc(e: TimelineEntry) -> dict:
    return {"status": e.status, "event_type": e.event_type, "event_id": e.event_id, "producer": e.producer,
            "occurred_at": e.occurred_at, "recorded_at": e.recorded_at}


def to_doc(c: Case) -> dict:
    return {
        "_id": c.case_id, "tenant_id": c.tenant_id, "client_request_id": c.client_request_id,
        "request_sha256": c.request_sha256, "submitted_by": c.submitted_by, "status": c.status, "kind": c.kind,
        "diagnosis_code": c.diagnosis_code, "urgency": c.urgency, "jurisdiction": c.jurisdiction,
        "language": c.language, "panel_requested": c.panel_requested,
        "blind_review_requested": c.blind_review_requested,
        "patient": asdict(c.patient), "diagnosis_text": c.diagnosis_text,
        "secondary_diagnoses": [asdict(d) for d in c.secondary_diagnoses],
        "first_opinion": asdict(c.first_opinion), "clinical_question": c.clinical_question,
        "attachments": [asdict(a) for a in c.attachments], "consent": asdict(c.consent),
        "traceparent": c.traceparent, "submitted_at": c.submitted_at, "updated_at": c.updated_at,
        "timeline": [entry_doc(e) for e in c.timeline], "seen_event_ids": sorted(c.seen_event_ids),
        "redrives": c.redrives, "next_redrive_at": c.next_redrive_at, "specialist_id": c.specialist_id,
    }


def _patient(doc: dict) -> Patient:
    return Patient(
        given_name=doc["given_name"], family_name=doc["family_name"], birth_date=doc["birth_date"],
        other_given_names=tuple(doc.get("other_given_names", ())), sex=doc.get("sex", 0),
        identifiers=tuple(Identifier(**i) for i in doc.get("identifiers", ())),
        email=doc.get("email", ""), phone=doc.get("phone", ""),
    )


def _first_opinion(doc: dict) -> FirstOpinion:
    if "first_opinion" not in doc:  # before the complete model: the treatment's text alone
        return FirstOpinion("", "", "", "", "", Diagnosis(doc["diagnosis_code"]), (),
                            doc.get("proposed_treatment", ""))
    f = doc["first_opinion"]
    return FirstOpinion(
        physician_npi=f["physician_npi"], physician_given_name=f["physician_given_name"],
        physician_family_name=f["physician_family_name"], organization_name=f["organization_name"],
        organization_npi=f["organization_npi"], diagnosis=Diagnosis(**f["diagnosis"]),
        treatment_codes=tuple(ProcedureCode(**p) for p in f["treatment_codes"]),
        treatment_text=f["treatment_text"], rationale=f.get("rationale", ""),
    )


def from_doc(doc: dict) -> Case:
    consent = doc["consent"]
    return Case(
        case_id=doc["_id"], tenant_id=doc["tenant_id"], client_request_id=doc["client_request_id"],
        request_sha256=doc.get("request_sha256", ""), submitted_by=doc.get("submitted_by", ""),
        status=doc["status"], diagnosis_code=doc["diagnosis_code"], urgency=doc["urgency"],
        jurisdiction=doc["jurisdiction"], language=doc["language"], patient=_patient(doc["patient"]),
        diagnosis_text=doc.get("diagnosis_text", ""),
        secondary_diagnoses=tuple(Diagnosis(**d) for d in doc.get("secondary_diagnoses", ())),
        first_opinion=_first_opinion(doc), clinical_question=doc.get("clinical_question", ""),
        attachments=tuple(Attachment(**a) for a in doc.get("attachments", ())),
        consent=Consent(consent["granted_at"], consent.get("scope", 0), consent.get("recorded_by", "")),
        traceparent=doc.get("traceparent", ""), submitted_at=doc["submitted_at"], updated_at=doc["updated_at"],
        timeline=tuple(TimelineEntry(**e) for e in doc.get("timeline", [])),
        seen_event_ids=frozenset(doc.get("seen_event_ids", [])), redrives=doc.get("redrives", 0),
        next_redrive_at=doc.get("next_redrive_at"), specialist_id=doc.get("specialist_id", ""),
        kind=doc.get("kind", 1), panel_requested=doc.get("panel_requested", False),
        blind_review_requested=doc.get("blind_review_requested", False),
    )

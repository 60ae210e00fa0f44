"""How a case is kept as a MongoDB document, and read back.

Routing facts (codes, NPIs, organisation, flags) and the workflow's bookkeeping
are kept in clear: they are what queries and the projection use. Everything else
the case says is sealed with the service's PHI cipher (secondlook/phi.py), as one
value (`content`: the patient, the texts, the physician's name, the question, the
consent), the records as another (`attachments`) and a withdrawal note as a
third. MRNs, and a prior-authorization request's trace number, are sealed
deterministically into a lookup collection of their own (`lookup_docs`) for
equality lookups. Cases written before encryption, with each field sealed on its own, or
before the complete model, still read.
"""

from __future__ import annotations

from dataclasses import asdict

from secondlook.phi import PhiCipher

from .domain import priorauth
from .domain.case import Case, InfoRequest
from .domain.content import (
    Attachment,
    CaseContent,
    Consent,
    Diagnosis,
    FirstOpinion,
    Identifier,
    Patient,
    ProcedureCode,
)
from .domain.lifecycle import TimelineEntry

# What the projection and the sweeper read: everything but the content.
CONTENT_FIELDS = ("content", "patient", "diagnosis_text", "secondary_diagnoses", "first_opinion",
                  "clinical_question", "attachments", "consent", "proposed_treatment", "mrn_lookup", "withdrawal_note",
                  "info_requests", "prior_auth_decisions")
BOOKKEEPING = {field: False for field in CONTENT_FIELDS}


def entry_doc(e: TimelineEntry) -> dict:
    doc = {"status": e.status, "event_type": e.event_type, "event_id": e.event_id, "producer": e.producer,
           "occurred_at": e.occurred_at, "recorded_at": e.recorded_at}
    if e.detail:
        doc["detail"] = e.detail
    if e.ref:
        doc["ref"] = e.ref
    return doc


async def request_digest(fingerprint: str, cipher: PhiCipher) -> str:
    """What is kept of a request's content (`fingerprint`: its SHA-256), to know a
    repeat of its key: keyed by the data key, so that nobody reading the store without
    it can test a guess (a prior-authorization request is a member id, a birth date and
    a few codes: few enough to try). Cases from before 2026-11-28 keep the plain SHA-256."""
    return await cipher.fingerprint(f"request:{fingerprint}")


async def to_doc(c: Case, cipher: PhiCipher) -> dict:
    doc = {
        "_id": c.case_id, "tenant_id": c.tenant_id, "client_request_id": c.client_request_id,
        "request_sha256": c.request_sha256, "request_content_sha256": c.request_content_sha256,
        "submitted_by": c.submitted_by, "status": c.status, "kind": c.kind,
        "diagnosis_code": c.diagnosis_code, "urgency": c.urgency, "jurisdiction": c.jurisdiction,
        "language": c.language, "panel_requested": c.panel_requested,
        "blind_review_requested": c.blind_review_requested,
        "traceparent": c.traceparent, "submitted_at": c.submitted_at, "updated_at": c.updated_at,
        "timeline": [entry_doc(e) for e in c.timeline], "seen_event_ids": sorted(c.seen_event_ids),
        "redrives": c.redrives, "next_redrive_at": c.next_redrive_at, "specialist_id": c.specialist_id,
    }
    if c.client_request_system:  # absent otherwise: the key index reads absent as null, as for cases from before
        doc["client_request_system"] = c.client_request_system
    if c.withdrawn_at is not None:
        doc.update(withdrawal_fields(c))
    if c.content is not None:
        doc.update(await _content_doc(c.content, cipher, c.tenant_id))
    return doc


async def sealed_attachments(attachments: tuple[Attachment, ...], cipher: PhiCipher) -> dict:
    return {"attachments": await cipher.seal([asdict(a) for a in attachments]), "attachments_count": len(attachments)}


async def opened_attachments(doc: dict, cipher: PhiCipher) -> tuple[Attachment, ...]:
    return tuple(Attachment(**a) for a in await cipher.open(doc.get("attachments", [])))


def withdrawal_fields(c: Case) -> dict:
    return {"withdrawal": {"reason": c.withdrawal_reason, "at": c.withdrawn_at, "by": c.withdrawn_by}}


async def lookup_docs(c: Case, cipher: PhiCipher) -> list[dict]:
    """The case's entries in the patient lookup (one per MRN, sealed deterministically):
    a collection of their own, written once with the case and never updated, so the
    index a lookup needs costs nothing to the case's many later updates."""
    if c.content is None:
        return []
    keys = [mrn_key(c.tenant_id, system, value) for system, value in c.content.patient.mrns]
    if (request := c.content.prior_auth) is not None:  # found by either identifier, with the member id
        keys += [prior_auth_key(c.tenant_id, identifier, request.member_id)
                 for identifier in dict.fromkeys(i for i in (request.claim_identifier, request.submission_id) if i)]
    return [{"_id": f"{c.case_id}:{n}", "lookup": await cipher.seal_lookup(key), "tenant_id": c.tenant_id,
             "case_id": c.case_id, "at": c.submitted_at} for n, key in enumerate(keys)]


def mrn_key(tenant_id: str, system: str, value: str) -> str:
    """What is sealed for an MRN lookup: the same number from another assigner, or in
    another tenant, is another patient, and must not seal the same."""
    return "\x1f".join((tenant_id, system, value))


def prior_auth_key(tenant_id: str, identifier: str, member_id: str) -> str:
    """What is sealed to find a prior-authorization request by the submitter's trace
    number (or transaction id) and the patient's member id ($inquire); an MRN's
    assigner is a URI, so no MRN key is ever the same."""
    return "\x1f".join((tenant_id, "pas-claim", identifier, member_id))


async def _content_doc(content: CaseContent, cipher: PhiCipher, tenant_id: str) -> dict:
    """The content as stored: the codes, NPIs and organisation in clear (conflict
    screening and queries use them), everything else the case says in one sealed
    value (one encryption, not one per field: each costs as much as the next), the
    records in another (AddDocuments seals them again) and each MRN for lookups."""
    f = content.first_opinion
    sealed = {
        "patient": asdict(content.patient), "diagnosis_text": content.diagnosis_text,
        "secondary_texts": [d.text for d in content.secondary_diagnoses],
        "physician": {"given_name": f.physician_given_name, "family_name": f.physician_family_name,
                      **({"email": f.physician_email} if f.physician_email else {})},
        "first_opinion_diagnosis_text": f.diagnosis.text, "treatment_displays": [p.display for p in f.treatment_codes],
        "treatment_text": f.treatment_text, "rationale": f.rationale,
        "clinical_question": content.clinical_question, "consent": asdict(content.consent),
        **({"prior_auth": asdict(content.prior_auth)} if content.prior_auth else {}),
    }
    return {
        "content": await cipher.seal(sealed),
        "secondary_diagnoses": [{"code": d.code} for d in content.secondary_diagnoses],
        "first_opinion": {
            "physician_npi": f.physician_npi, "organization_name": f.organization_name,
            "organization_npi": f.organization_npi, "diagnosis": {"code": f.diagnosis.code},
            "treatment_codes": [{"system": p.system, "code": p.code} for p in f.treatment_codes],
        },
        **await sealed_attachments(content.attachments, cipher),
    }


async def from_doc(doc: dict, cipher: PhiCipher) -> Case:
    """The case; its content only when the document was read with it."""
    return Case(
        case_id=doc["_id"], tenant_id=doc["tenant_id"], client_request_id=doc["client_request_id"],
        client_request_system=doc.get("client_request_system", ""), request_sha256=doc.get("request_sha256", ""),
        request_content_sha256=doc.get("request_content_sha256", ""), submitted_by=doc.get("submitted_by", ""),
        status=doc["status"], diagnosis_code=doc["diagnosis_code"], urgency=doc["urgency"],
        jurisdiction=doc["jurisdiction"], language=doc["language"],
        traceparent=doc.get("traceparent", ""), submitted_at=doc["submitted_at"], updated_at=doc["updated_at"],
        timeline=tuple(TimelineEntry(**e) for e in doc.get("timeline", [])),
        seen_event_ids=frozenset(doc.get("seen_event_ids", [])), redrives=doc.get("redrives", 0),
        next_redrive_at=doc.get("next_redrive_at"), specialist_id=doc.get("specialist_id", ""),
        kind=doc.get("kind", 1), panel_requested=doc.get("panel_requested", False),
        blind_review_requested=doc.get("blind_review_requested", False),
        withdrawal_reason=doc.get("withdrawal", {}).get("reason", 0), withdrawn_at=doc.get("withdrawal", {}).get("at"),
        withdrawn_by=doc.get("withdrawal", {}).get("by", ""),
        content=await _content(doc, cipher) if "content" in doc or "patient" in doc else None,
        info_requests=tuple([await _info_request(r, cipher) for r in doc.get("info_requests", ())]),
        prior_auth_decisions=tuple([await _decision(d, cipher) for d in doc.get("prior_auth_decisions", ())]),
    )


async def info_request_doc(r: InfoRequest, cipher: PhiCipher) -> dict:
    """A reviewer's request as kept: its questions sealed, who asked and when in clear."""
    return {"request_id": r.request_id, "specialist_id": r.specialist_id, "requested_at": r.requested_at,
            "questions": await cipher.seal(list(r.questions))}


async def decision_doc(d: priorauth.Decision, cipher: PhiCipher) -> dict:
    """A prior-authorization decision as kept: its codes in clear (the prior-auth report
    counts them), the reviewer's texts sealed."""
    return {"decision_id": d.decision_id, "specialist_id": d.specialist_id, "decided_at": d.decided_at,
            "items": [{"key": i.key, "action": i.action, "reason_code": i.reason_code,
                       "approved_quantity": i.approved_quantity, "approved_code": i.approved_code} for i in d.items],
            "texts": await cipher.seal([[i.provider_text, i.patient_text] for i in d.items]),
            **({"amendment_reason": await cipher.seal(d.amendment_reason)} if d.amendment_reason else {})}


async def _decision(doc: dict, cipher: PhiCipher) -> priorauth.Decision:
    texts = await cipher.open(doc["texts"])
    return priorauth.Decision(
        decision_id=doc["decision_id"], specialist_id=doc["specialist_id"], decided_at=doc["decided_at"],
        amendment_reason=await cipher.open(doc.get("amendment_reason", "")),
        items=tuple(priorauth.DecidedItem(provider_text=provider, patient_text=patient, **item)
                    for item, (provider, patient) in zip(doc["items"], texts, strict=True)))


async def _info_request(doc: dict, cipher: PhiCipher) -> InfoRequest:
    return InfoRequest(request_id=doc["request_id"], specialist_id=doc["specialist_id"],
                       questions=tuple(await cipher.open(doc["questions"])), requested_at=doc["requested_at"])


def _patient(p: dict) -> Patient:
    return Patient(
        given_name=p["given_name"], family_name=p["family_name"], birth_date=p["birth_date"],
        other_given_names=tuple(p.get("other_given_names", ())), sex=p.get("sex", 0),
        identifiers=tuple(Identifier(**i) for i in p.get("identifiers", ())),
        email=p.get("email", ""), phone=p.get("phone", ""),
    )


def _consent(c: dict) -> Consent:
    return Consent(c["granted_at"], c.get("scope", 0), c.get("recorded_by", ""))


async def _content(doc: dict, cipher: PhiCipher) -> CaseContent:
    if "content" not in doc:
        return await _content_per_field(doc, cipher)
    sealed = await cipher.open(doc["content"])
    f = doc["first_opinion"]
    return CaseContent(
        patient=_patient(sealed["patient"]), diagnosis_text=sealed["diagnosis_text"],
        secondary_diagnoses=tuple(Diagnosis(d["code"], text) for d, text in
                                  zip(doc["secondary_diagnoses"], sealed["secondary_texts"], strict=True)),
        first_opinion=FirstOpinion(
            physician_npi=f["physician_npi"], physician_given_name=sealed["physician"]["given_name"],
            physician_family_name=sealed["physician"]["family_name"], organization_name=f["organization_name"],
            organization_npi=f["organization_npi"],
            diagnosis=Diagnosis(f["diagnosis"]["code"], sealed["first_opinion_diagnosis_text"]),
            treatment_codes=tuple(ProcedureCode(p["system"], p["code"], display) for p, display in
                                  zip(f["treatment_codes"], sealed["treatment_displays"], strict=True)),
            treatment_text=sealed["treatment_text"], rationale=sealed["rationale"],
            physician_email=sealed["physician"].get("email", ""),
        ),
        clinical_question=sealed["clinical_question"], attachments=await opened_attachments(doc, cipher),
        consent=_consent(sealed["consent"]), withdrawal_note=await cipher.open(doc.get("withdrawal_note", "")),
        prior_auth=priorauth.from_dict(sealed["prior_auth"]) if "prior_auth" in sealed else None,
    )


async def _content_per_field(doc: dict, cipher: PhiCipher) -> CaseContent:
    """A case written with each field sealed on its own (before the content was one value)."""
    opened = cipher.open
    return CaseContent(
        patient=_patient(await opened(doc["patient"])), diagnosis_text=await opened(doc.get("diagnosis_text", "")),
        secondary_diagnoses=tuple([Diagnosis(d["code"], await opened(d["text"]))
                                   for d in doc.get("secondary_diagnoses", ())]),
        first_opinion=await _first_opinion(doc, cipher),
        clinical_question=await opened(doc.get("clinical_question", "")),
        attachments=await opened_attachments(doc, cipher),
        consent=_consent(await opened(doc["consent"])),
        withdrawal_note=await opened(doc.get("withdrawal_note", "")),
    )


async def _first_opinion(doc: dict, cipher: PhiCipher) -> FirstOpinion:
    if "first_opinion" not in doc:  # before the complete model: the treatment's text alone
        return FirstOpinion("", "", "", "", "", Diagnosis(doc["diagnosis_code"]), (),
                            await cipher.open(doc.get("proposed_treatment", "")))
    f = doc["first_opinion"]
    physician = await cipher.open(f["physician"]) if "physician" in f else {
        "given_name": f.get("physician_given_name", ""), "family_name": f.get("physician_family_name", "")}
    return FirstOpinion(
        physician_npi=f["physician_npi"], physician_given_name=physician["given_name"],
        physician_family_name=physician["family_name"], organization_name=f["organization_name"],
        organization_npi=f["organization_npi"],
        diagnosis=Diagnosis(f["diagnosis"]["code"], await cipher.open(f["diagnosis"]["text"])),
        treatment_codes=tuple([ProcedureCode(p["system"], p["code"], await cipher.open(p.get("display", "")))
                               for p in f["treatment_codes"]]),
        treatment_text=await cipher.open(f["treatment_text"]), rationale=await cipher.open(f.get("rationale", "")),
    )

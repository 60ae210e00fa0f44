"""A case as the API returns it (intake_pb2.Case), from the domain's case."""

from __future__ import annotations

from datetime import date, datetime

from secondlook.v1 import case_pb2, intake_pb2

from .domain.case import Case, InfoRequest, answered_at, confirmed_decision, confirmed_requests, requested_service
from .domain.content import CaseContent, Diagnosis
from .domain.lifecycle import TimelineEntry
from .domain.priorauth import Decision, Party, PriorAuthRequest


def _diagnosis(d: Diagnosis) -> intake_pb2.Diagnosis:
    return intake_pb2.Diagnosis(code=d.code, text=d.text)


def entry_message(e: TimelineEntry) -> case_pb2.TimelineEntry:
    entry = case_pb2.TimelineEntry(status=e.status, event_type=e.event_type, event_id=e.event_id, producer=e.producer,
                                   detail=e.detail)
    entry.occurred_at.FromDatetime(e.occurred_at)
    entry.recorded_at.FromDatetime(e.recorded_at)
    return entry


def case_message(case: Case) -> intake_pb2.Case:
    """The case, with its content when it was read with it."""
    msg = intake_pb2.Case(
        case_id=case.case_id, tenant_id=case.tenant_id, client_request_id=case.client_request_id,
        client_request_system=case.client_request_system,
        status=case.status, kind=case.kind, diagnosis_code=case.diagnosis_code, urgency=case.urgency,
        jurisdiction=case.jurisdiction, language=case.language, specialist_id=case.specialist_id,
        panel_requested=case.panel_requested, blind_review_requested=case.blind_review_requested,
        withdrawal_reason=case.withdrawal_reason,
    )
    if case.withdrawn_at is not None:
        msg.withdrawn_at.FromDatetime(case.withdrawn_at)
    msg.submitted_at.FromDatetime(case.submitted_at)
    msg.updated_at.FromDatetime(case.updated_at)
    msg.timeline.extend(entry_message(e) for e in sorted(case.timeline, key=lambda e: (e.occurred_at, e.status)))
    if case.content is not None:
        _add_content(msg, case.content)
    if (decision := confirmed_decision(case)) is not None:
        msg.prior_auth_decision.CopyFrom(decision_message(decision))
    confirmed = confirmed_requests(case)
    msg.info_requests.extend(info_request_message(r, answered_at(case, r)) for r in case.info_requests
                             if r.request_id in confirmed)
    return msg


def decision_message(d: Decision) -> intake_pb2.PriorAuthDecision:
    msg = intake_pb2.PriorAuthDecision(decision_id=d.decision_id, specialist_id=d.specialist_id,
                                       amendment_reason=d.amendment_reason, decisions=[
        case_pb2.ItemDecision(item_key=i.key, action=i.action, reason_code=i.reason_code,
                              provider_text=i.provider_text, patient_text=i.patient_text,
                              approved_quantity=i.approved_quantity, approved_code=i.approved_code)
        for i in d.items])
    msg.decided_at.FromDatetime(d.decided_at)
    return msg


def info_request_message(r: InfoRequest, answered: datetime | None = None) -> intake_pb2.InfoRequest:
    msg = intake_pb2.InfoRequest(request_id=r.request_id, questions=r.questions)
    msg.requested_at.FromDatetime(r.requested_at)
    if answered is not None:
        msg.answered_at.FromDatetime(answered)
    return msg


def _add_content(msg: intake_pb2.Case, content: CaseContent) -> None:
    p, f, consent = content.patient, content.first_opinion, content.consent
    msg.MergeFrom(intake_pb2.Case(
        patient=intake_pb2.Patient(
            given_name=p.given_name, family_name=p.family_name, birth_date=p.birth_date,
            other_given_names=p.other_given_names, sex=p.sex, email=p.email, phone=p.phone,
            identifiers=[intake_pb2.Identifier(system=i.system, value=i.value, type=i.type) for i in p.identifiers],
        ),
        diagnosis_text=content.diagnosis_text,
        secondary_diagnoses=[_diagnosis(d) for d in content.secondary_diagnoses],
        first_opinion=intake_pb2.FirstOpinion(
            physician=intake_pb2.Physician(npi=f.physician_npi, given_name=f.physician_given_name,
                                           family_name=f.physician_family_name, email=f.physician_email),
            organization=intake_pb2.Organization(name=f.organization_name, npi=f.organization_npi),
            diagnosis=_diagnosis(f.diagnosis),
            proposed_treatment=intake_pb2.ProposedTreatment(
                codes=[intake_pb2.ProcedureCode(system=c.system, code=c.code, display=c.display)
                       for c in f.treatment_codes],
                text=f.treatment_text),
            rationale=f.rationale,
        ),
        clinical_question=content.clinical_question,
        attachments=[intake_pb2.Attachment(uri=a.uri, media_type=a.media_type, size_bytes=a.size_bytes,
                                           sha256=a.sha256, title=a.title) for a in content.attachments],
        withdrawal_note=content.withdrawal_note,
    ))
    if content.prior_auth is not None:  # a payer's review asks no consent of the patient
        msg.prior_auth.CopyFrom(prior_auth_message(content.prior_auth))
        return
    msg.consent.MergeFrom(intake_pb2.Consent(granted=True, scope=consent.scope, recorded_by=consent.recorded_by))
    msg.consent.granted_at.FromDatetime(consent.granted_at)


def _party(p: Party) -> intake_pb2.Party:
    return intake_pb2.Party(name=p.name, npi=p.npi, identifier=p.identifier)


def prior_auth_message(r: PriorAuthRequest) -> intake_pb2.PriorAuthRequest:
    return intake_pb2.PriorAuthRequest(
        submission_id=r.submission_id, claim_identifier=r.claim_identifier,
        items=[requested_service(i) for i in r.items], member_id=r.member_id, plan=r.plan, payer=_party(r.payer),
        requesting_provider=_party(r.requesting_provider),
        requesting_organization=_party(r.requesting_organization), claim_type=r.claim_type, expedited=r.expedited)


AGE_CAP = 90  # HIPAA Safe Harbor: ages over 89 are told as 90 or older


def age_on(birth_date: str, day: date) -> int:
    """Whole years from an ISO birth date to `day`, 90 for anyone older (0 when the
    date cannot be read: intake stores only dates it validated)."""
    try:
        born = date.fromisoformat(birth_date)
    except ValueError:
        return 0
    return min(AGE_CAP, max(0, day.year - born.year - ((day.month, day.day) < (born.month, born.day))))


def review_message(case: Case, day: date, specialist_id: str) -> intake_pb2.CaseForReview:
    """What the reviewer needs of a case read with its content: no name, identifier or
    contact detail; the age on `day` instead of the birth date; their own requests
    for more information (a panel's members review independently)."""
    assert case.content is not None
    content = case.content
    whole = intake_pb2.Case()
    _add_content(whole, content)
    whole.first_opinion.physician.ClearField("email")  # a contact detail: not the reviewer's
    msg = intake_pb2.CaseForReview(
        case_id=case.case_id, kind=case.kind, urgency=case.urgency, jurisdiction=case.jurisdiction,
        language=case.language, patient_sex=content.patient.sex,
        patient_age_years=age_on(content.patient.birth_date, day),
        diagnosis=intake_pb2.Diagnosis(code=case.diagnosis_code, text=content.diagnosis_text),
        secondary_diagnoses=whole.secondary_diagnoses, first_opinion=whole.first_opinion,
        clinical_question=content.clinical_question, attachments=whole.attachments,
        panel_requested=case.panel_requested, blind_review_requested=case.blind_review_requested, status=case.status,
        info_requests=[info_request_message(r, answered_at(case, r)) for r in case.info_requests
                       if r.specialist_id == specialist_id and r.request_id in confirmed_requests(case)],
        requested_services=[requested_service(i) for i in content.prior_auth.items] if content.prior_auth else [],
    )
    if (decision := confirmed_decision(case)) is not None:
        msg.prior_auth_decision.CopyFrom(decision_message(decision))
    return msg


def contacts_message(case: Case, channels: tuple[str, ...] = ("email",)) -> intake_pb2.Contacts:
    """How to reach the case's patient and referring physician by the channels asked
    for (e-mail: the addresses; sms: the patient's phone), and nothing else of it."""
    assert case.content is not None
    patient, first = case.content.patient, case.content.first_opinion
    email = "email" in channels
    return intake_pb2.Contacts(
        case_id=case.case_id, tenant_id=case.tenant_id, urgency=case.urgency, status=case.status,
        patient=intake_pb2.Contact(email=patient.email if email else "",
                                   phone=patient.phone if "sms" in channels else "", language=case.language),
        physician=intake_pb2.Contact(email=first.physician_email if email else "", npi=first.physician_npi),
    )

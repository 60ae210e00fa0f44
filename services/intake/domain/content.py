"""What a case says: the patient, the diagnoses, the first opinion under review,
the question asked, the records and the consent. Values, validated on the way in
(submission.py); everything here but codes and organisations is PHI and stays in
intake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .priorauth import PriorAuthRequest


@dataclass(frozen=True)
class Identifier:
    system: str  # a URI naming the assigner
    value: str
    type: str = ""  # HL7 v2 table 0203, e.g. "MR"


@dataclass(frozen=True)
class Patient:
    given_name: str
    family_name: str
    birth_date: str  # YYYY-MM-DD
    other_given_names: tuple[str, ...] = ()
    sex: int = 0  # intake_pb2.AdministrativeSex
    identifiers: tuple[Identifier, ...] = ()
    email: str = ""
    phone: str = ""  # E.164

    @property
    def mrns(self) -> tuple[tuple[str, str], ...]:
        """(assigner, number) of each medical record number."""
        return tuple((i.system, i.value) for i in self.identifiers if i.type == "MR")


@dataclass(frozen=True)
class Diagnosis:
    code: str  # ICD-10-CM, with its dot
    text: str = ""


@dataclass(frozen=True)
class ProcedureCode:
    system: str  # CPT or HCPCS
    code: str
    display: str = ""


@dataclass(frozen=True)
class FirstOpinion:
    physician_npi: str
    physician_given_name: str
    physician_family_name: str
    organization_name: str
    organization_npi: str
    diagnosis: Diagnosis
    treatment_codes: tuple[ProcedureCode, ...]
    treatment_text: str
    rationale: str = ""
    physician_email: str = ""


@dataclass(frozen=True)
class Attachment:
    uri: str  # https
    media_type: str
    size_bytes: int
    sha256: str  # lower-case hex
    title: str = ""


@dataclass(frozen=True)
class Consent:
    granted_at: datetime
    scope: int  # intake_pb2.ConsentScope
    recorded_by: str


@dataclass(frozen=True)
class CaseContent:
    """Everything a case says beyond its routing facts. The status projection never
    needs it, so bookkeeping reads leave it (and its decryption) out."""

    patient: Patient
    diagnosis_text: str
    secondary_diagnoses: tuple[Diagnosis, ...]
    first_opinion: FirstOpinion
    clinical_question: str
    attachments: tuple[Attachment, ...]
    consent: Consent
    withdrawal_note: str = ""  # the submitter's words on withdrawing, if any
    prior_auth: PriorAuthRequest | None = None  # a PRIOR_AUTH case's request

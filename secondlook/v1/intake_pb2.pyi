import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from secondlook.v1 import case_pb2 as _case_pb2
from secondlook.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_VIEW_UNSPECIFIED: _ClassVar[CaseView]
    CASE_VIEW_SUMMARY: _ClassVar[CaseView]
    CASE_VIEW_FULL: _ClassVar[CaseView]

class AdministrativeSex(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADMINISTRATIVE_SEX_UNSPECIFIED: _ClassVar[AdministrativeSex]
    ADMINISTRATIVE_SEX_MALE: _ClassVar[AdministrativeSex]
    ADMINISTRATIVE_SEX_FEMALE: _ClassVar[AdministrativeSex]
    ADMINISTRATIVE_SEX_OTHER: _ClassVar[AdministrativeSex]
    ADMINISTRATIVE_SEX_UNKNOWN: _ClassVar[AdministrativeSex]

class ConsentScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_SCOPE_UNSPECIFIED: _ClassVar[ConsentScope]
    CONSENT_SCOPE_SECOND_OPINION_REVIEW: _ClassVar[ConsentScope]
CASE_VIEW_UNSPECIFIED: CaseView
CASE_VIEW_SUMMARY: CaseView
CASE_VIEW_FULL: CaseView
ADMINISTRATIVE_SEX_UNSPECIFIED: AdministrativeSex
ADMINISTRATIVE_SEX_MALE: AdministrativeSex
ADMINISTRATIVE_SEX_FEMALE: AdministrativeSex
ADMINISTRATIVE_SEX_OTHER: AdministrativeSex
ADMINISTRATIVE_SEX_UNKNOWN: AdministrativeSex
CONSENT_SCOPE_UNSPECIFIED: ConsentScope
CONSENT_SCOPE_SECOND_OPINION_REVIEW: ConsentScope

class GetContactsRequest(_message.Message):
    __slots__ = ("case_id", "purpose", "channels")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    purpose: str
    channels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, case_id: _Optional[str] = ..., purpose: _Optional[str] = ..., channels: _Optional[_Iterable[str]] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("email", "phone", "language", "npi")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    NPI_FIELD_NUMBER: _ClassVar[int]
    email: str
    phone: str
    language: str
    npi: str
    def __init__(self, email: _Optional[str] = ..., phone: _Optional[str] = ..., language: _Optional[str] = ..., npi: _Optional[str] = ...) -> None: ...

class Contacts(_message.Message):
    __slots__ = ("case_id", "tenant_id", "patient", "physician", "urgency", "status")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    PHYSICIAN_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    tenant_id: str
    patient: Contact
    physician: Contact
    urgency: _case_pb2.Urgency
    status: _case_pb2.CaseStatus
    def __init__(self, case_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., patient: _Optional[_Union[Contact, _Mapping]] = ..., physician: _Optional[_Union[Contact, _Mapping]] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., status: _Optional[_Union[_case_pb2.CaseStatus, str]] = ...) -> None: ...

class RecordInfoRequestRequest(_message.Message):
    __slots__ = ("case_id", "request_id", "specialist_id", "questions")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    request_id: str
    specialist_id: str
    questions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, case_id: _Optional[str] = ..., request_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., questions: _Optional[_Iterable[str]] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ("request_id", "questions", "requested_at", "answered_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    questions: _containers.RepeatedScalarFieldContainer[str]
    requested_at: _timestamp_pb2.Timestamp
    answered_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., questions: _Optional[_Iterable[str]] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCaseForReviewRequest(_message.Message):
    __slots__ = ("case_id", "specialist_id")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    specialist_id: str
    def __init__(self, case_id: _Optional[str] = ..., specialist_id: _Optional[str] = ...) -> None: ...

class CaseForReview(_message.Message):
    __slots__ = ("case_id", "kind", "urgency", "jurisdiction", "language", "patient_sex", "patient_age_years", "diagnosis", "secondary_diagnoses", "first_opinion", "clinical_question", "attachments", "panel_requested", "blind_review_requested", "status", "info_requests", "requested_services", "prior_auth_decision")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PATIENT_SEX_FIELD_NUMBER: _ClassVar[int]
    PATIENT_AGE_YEARS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_DIAGNOSES_FIELD_NUMBER: _ClassVar[int]
    FIRST_OPINION_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_QUESTION_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    PANEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    BLIND_REVIEW_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INFO_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_SERVICES_FIELD_NUMBER: _ClassVar[int]
    PRIOR_AUTH_DECISION_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    kind: _case_pb2.CaseKind
    urgency: _case_pb2.Urgency
    jurisdiction: str
    language: str
    patient_sex: AdministrativeSex
    patient_age_years: int
    diagnosis: Diagnosis
    secondary_diagnoses: _containers.RepeatedCompositeFieldContainer[Diagnosis]
    first_opinion: FirstOpinion
    clinical_question: str
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    panel_requested: bool
    blind_review_requested: bool
    status: _case_pb2.CaseStatus
    info_requests: _containers.RepeatedCompositeFieldContainer[InfoRequest]
    requested_services: _containers.RepeatedCompositeFieldContainer[_case_pb2.RequestedService]
    prior_auth_decision: PriorAuthDecision
    def __init__(self, case_id: _Optional[str] = ..., kind: _Optional[_Union[_case_pb2.CaseKind, str]] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., patient_sex: _Optional[_Union[AdministrativeSex, str]] = ..., patient_age_years: _Optional[int] = ..., diagnosis: _Optional[_Union[Diagnosis, _Mapping]] = ..., secondary_diagnoses: _Optional[_Iterable[_Union[Diagnosis, _Mapping]]] = ..., first_opinion: _Optional[_Union[FirstOpinion, _Mapping]] = ..., clinical_question: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., panel_requested: _Optional[bool] = ..., blind_review_requested: _Optional[bool] = ..., status: _Optional[_Union[_case_pb2.CaseStatus, str]] = ..., info_requests: _Optional[_Iterable[_Union[InfoRequest, _Mapping]]] = ..., requested_services: _Optional[_Iterable[_Union[_case_pb2.RequestedService, _Mapping]]] = ..., prior_auth_decision: _Optional[_Union[PriorAuthDecision, _Mapping]] = ...) -> None: ...

class AddDocumentsRequest(_message.Message):
    __slots__ = ("case_id", "attachments")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    def __init__(self, case_id: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ...) -> None: ...

class AddDocumentsResponse(_message.Message):
    __slots__ = ("added", "attachments_total", "status")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    added: int
    attachments_total: int
    status: _case_pb2.CaseStatus
    def __init__(self, added: _Optional[int] = ..., attachments_total: _Optional[int] = ..., status: _Optional[_Union[_case_pb2.CaseStatus, str]] = ...) -> None: ...

class WithdrawCaseRequest(_message.Message):
    __slots__ = ("case_id", "reason", "note")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    reason: _case_pb2.WithdrawalReason
    note: str
    def __init__(self, case_id: _Optional[str] = ..., reason: _Optional[_Union[_case_pb2.WithdrawalReason, str]] = ..., note: _Optional[str] = ...) -> None: ...

class WatchCaseRequest(_message.Message):
    __slots__ = ("case_id", "after_position")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    after_position: int
    def __init__(self, case_id: _Optional[str] = ..., after_position: _Optional[int] = ...) -> None: ...

class CaseTimelineUpdate(_message.Message):
    __slots__ = ("entry", "position", "case_status")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CASE_STATUS_FIELD_NUMBER: _ClassVar[int]
    entry: _case_pb2.TimelineEntry
    position: int
    case_status: _case_pb2.CaseStatus
    def __init__(self, entry: _Optional[_Union[_case_pb2.TimelineEntry, _Mapping]] = ..., position: _Optional[int] = ..., case_status: _Optional[_Union[_case_pb2.CaseStatus, str]] = ...) -> None: ...

class ListCasesRequest(_message.Message):
    __slots__ = ("statuses", "kinds", "urgencies", "submitted_after", "submitted_before", "page_size", "page_token", "view", "tenant_id", "patient_identifier")
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    URGENCIES_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AFTER_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedScalarFieldContainer[_case_pb2.CaseStatus]
    kinds: _containers.RepeatedScalarFieldContainer[_case_pb2.CaseKind]
    urgencies: _containers.RepeatedScalarFieldContainer[_case_pb2.Urgency]
    submitted_after: _timestamp_pb2.Timestamp
    submitted_before: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    view: CaseView
    tenant_id: str
    patient_identifier: Identifier
    def __init__(self, statuses: _Optional[_Iterable[_Union[_case_pb2.CaseStatus, str]]] = ..., kinds: _Optional[_Iterable[_Union[_case_pb2.CaseKind, str]]] = ..., urgencies: _Optional[_Iterable[_Union[_case_pb2.Urgency, str]]] = ..., submitted_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submitted_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., view: _Optional[_Union[CaseView, str]] = ..., tenant_id: _Optional[str] = ..., patient_identifier: _Optional[_Union[Identifier, _Mapping]] = ...) -> None: ...

class ListCasesResponse(_message.Message):
    __slots__ = ("cases", "next_page_token")
    CASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[Case]
    next_page_token: str
    def __init__(self, cases: _Optional[_Iterable[_Union[Case, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Identifier(_message.Message):
    __slots__ = ("system", "value", "type")
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    system: str
    value: str
    type: str
    def __init__(self, system: _Optional[str] = ..., value: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class Patient(_message.Message):
    __slots__ = ("given_name", "family_name", "birth_date", "other_given_names", "sex", "identifiers", "email", "phone")
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    OTHER_GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    SEX_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    given_name: str
    family_name: str
    birth_date: str
    other_given_names: _containers.RepeatedScalarFieldContainer[str]
    sex: AdministrativeSex
    identifiers: _containers.RepeatedCompositeFieldContainer[Identifier]
    email: str
    phone: str
    def __init__(self, given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ..., other_given_names: _Optional[_Iterable[str]] = ..., sex: _Optional[_Union[AdministrativeSex, str]] = ..., identifiers: _Optional[_Iterable[_Union[Identifier, _Mapping]]] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("granted", "granted_at", "scope", "recorded_by")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    granted_at: _timestamp_pb2.Timestamp
    scope: ConsentScope
    recorded_by: str
    def __init__(self, granted: _Optional[bool] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scope: _Optional[_Union[ConsentScope, str]] = ..., recorded_by: _Optional[str] = ...) -> None: ...

class Diagnosis(_message.Message):
    __slots__ = ("code", "text")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    code: str
    text: str
    def __init__(self, code: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ProcedureCode(_message.Message):
    __slots__ = ("system", "code", "display")
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_FIELD_NUMBER: _ClassVar[int]
    system: str
    code: str
    display: str
    def __init__(self, system: _Optional[str] = ..., code: _Optional[str] = ..., display: _Optional[str] = ...) -> None: ...

class Physician(_message.Message):
    __slots__ = ("npi", "given_name", "family_name", "email")
    NPI_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    npi: str
    given_name: str
    family_name: str
    email: str
    def __init__(self, npi: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class Organization(_message.Message):
    __slots__ = ("name", "npi")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NPI_FIELD_NUMBER: _ClassVar[int]
    name: str
    npi: str
    def __init__(self, name: _Optional[str] = ..., npi: _Optional[str] = ...) -> None: ...

class ProposedTreatment(_message.Message):
    __slots__ = ("codes", "text")
    CODES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedCompositeFieldContainer[ProcedureCode]
    text: str
    def __init__(self, codes: _Optional[_Iterable[_Union[ProcedureCode, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...

class FirstOpinion(_message.Message):
    __slots__ = ("physician", "organization", "diagnosis", "proposed_treatment", "rationale")
    PHYSICIAN_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_TREATMENT_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    physician: Physician
    organization: Organization
    diagnosis: Diagnosis
    proposed_treatment: ProposedTreatment
    rationale: str
    def __init__(self, physician: _Optional[_Union[Physician, _Mapping]] = ..., organization: _Optional[_Union[Organization, _Mapping]] = ..., diagnosis: _Optional[_Union[Diagnosis, _Mapping]] = ..., proposed_treatment: _Optional[_Union[ProposedTreatment, _Mapping]] = ..., rationale: _Optional[str] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("uri", "media_type", "size_bytes", "sha256", "title")
    URI_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    uri: str
    media_type: str
    size_bytes: int
    sha256: str
    title: str
    def __init__(self, uri: _Optional[str] = ..., media_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class SubmitCaseRequest(_message.Message):
    __slots__ = ("client_request_id", "patient", "diagnosis_code", "proposed_treatment", "urgency", "jurisdiction", "language", "consent", "kind", "diagnosis_text", "secondary_diagnoses", "first_opinion", "clinical_question", "attachments", "panel_requested", "blind_review_requested", "client_request_system")
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_TREATMENT_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_TEXT_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_DIAGNOSES_FIELD_NUMBER: _ClassVar[int]
    FIRST_OPINION_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_QUESTION_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    PANEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    BLIND_REVIEW_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    client_request_id: str
    patient: Patient
    diagnosis_code: str
    proposed_treatment: str
    urgency: _case_pb2.Urgency
    jurisdiction: str
    language: str
    consent: Consent
    kind: _case_pb2.CaseKind
    diagnosis_text: str
    secondary_diagnoses: _containers.RepeatedCompositeFieldContainer[Diagnosis]
    first_opinion: FirstOpinion
    clinical_question: str
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    panel_requested: bool
    blind_review_requested: bool
    client_request_system: str
    def __init__(self, client_request_id: _Optional[str] = ..., patient: _Optional[_Union[Patient, _Mapping]] = ..., diagnosis_code: _Optional[str] = ..., proposed_treatment: _Optional[str] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., consent: _Optional[_Union[Consent, _Mapping]] = ..., kind: _Optional[_Union[_case_pb2.CaseKind, str]] = ..., diagnosis_text: _Optional[str] = ..., secondary_diagnoses: _Optional[_Iterable[_Union[Diagnosis, _Mapping]]] = ..., first_opinion: _Optional[_Union[FirstOpinion, _Mapping]] = ..., clinical_question: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., panel_requested: _Optional[bool] = ..., blind_review_requested: _Optional[bool] = ..., client_request_system: _Optional[str] = ...) -> None: ...

class SubmitCaseResponse(_message.Message):
    __slots__ = ("case_id", "status", "created")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    status: _case_pb2.CaseStatus
    created: bool
    def __init__(self, case_id: _Optional[str] = ..., status: _Optional[_Union[_case_pb2.CaseStatus, str]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetCaseRequest(_message.Message):
    __slots__ = ("case_id",)
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    def __init__(self, case_id: _Optional[str] = ...) -> None: ...

class Case(_message.Message):
    __slots__ = ("case_id", "tenant_id", "client_request_id", "status", "diagnosis_code", "urgency", "jurisdiction", "language", "submitted_at", "updated_at", "timeline", "specialist_id", "kind", "patient", "diagnosis_text", "secondary_diagnoses", "first_opinion", "clinical_question", "attachments", "consent", "panel_requested", "blind_review_requested", "withdrawal_reason", "withdrawal_note", "withdrawn_at", "info_requests", "prior_auth", "prior_auth_decision", "client_request_system")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_TEXT_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_DIAGNOSES_FIELD_NUMBER: _ClassVar[int]
    FIRST_OPINION_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_QUESTION_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    PANEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    BLIND_REVIEW_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWAL_REASON_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWAL_NOTE_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_AT_FIELD_NUMBER: _ClassVar[int]
    INFO_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_AUTH_FIELD_NUMBER: _ClassVar[int]
    PRIOR_AUTH_DECISION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    tenant_id: str
    client_request_id: str
    status: _case_pb2.CaseStatus
    diagnosis_code: str
    urgency: _case_pb2.Urgency
    jurisdiction: str
    language: str
    submitted_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    timeline: _containers.RepeatedCompositeFieldContainer[_case_pb2.TimelineEntry]
    specialist_id: str
    kind: _case_pb2.CaseKind
    patient: Patient
    diagnosis_text: str
    secondary_diagnoses: _containers.RepeatedCompositeFieldContainer[Diagnosis]
    first_opinion: FirstOpinion
    clinical_question: str
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    consent: Consent
    panel_requested: bool
    blind_review_requested: bool
    withdrawal_reason: _case_pb2.WithdrawalReason
    withdrawal_note: str
    withdrawn_at: _timestamp_pb2.Timestamp
    info_requests: _containers.RepeatedCompositeFieldContainer[InfoRequest]
    prior_auth: PriorAuthRequest
    prior_auth_decision: PriorAuthDecision
    client_request_system: str
    def __init__(self, case_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., client_request_id: _Optional[str] = ..., status: _Optional[_Union[_case_pb2.CaseStatus, str]] = ..., diagnosis_code: _Optional[str] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timeline: _Optional[_Iterable[_Union[_case_pb2.TimelineEntry, _Mapping]]] = ..., specialist_id: _Optional[str] = ..., kind: _Optional[_Union[_case_pb2.CaseKind, str]] = ..., patient: _Optional[_Union[Patient, _Mapping]] = ..., diagnosis_text: _Optional[str] = ..., secondary_diagnoses: _Optional[_Iterable[_Union[Diagnosis, _Mapping]]] = ..., first_opinion: _Optional[_Union[FirstOpinion, _Mapping]] = ..., clinical_question: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., consent: _Optional[_Union[Consent, _Mapping]] = ..., panel_requested: _Optional[bool] = ..., blind_review_requested: _Optional[bool] = ..., withdrawal_reason: _Optional[_Union[_case_pb2.WithdrawalReason, str]] = ..., withdrawal_note: _Optional[str] = ..., withdrawn_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., info_requests: _Optional[_Iterable[_Union[InfoRequest, _Mapping]]] = ..., prior_auth: _Optional[_Union[PriorAuthRequest, _Mapping]] = ..., prior_auth_decision: _Optional[_Union[PriorAuthDecision, _Mapping]] = ..., client_request_system: _Optional[str] = ...) -> None: ...

class GetClaimResponseRequest(_message.Message):
    __slots__ = ("case_id", "purpose", "decision_id", "decision_version")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_VERSION_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    purpose: str
    decision_id: str
    decision_version: int
    def __init__(self, case_id: _Optional[str] = ..., purpose: _Optional[str] = ..., decision_id: _Optional[str] = ..., decision_version: _Optional[int] = ...) -> None: ...

class ClaimResponseDocument(_message.Message):
    __slots__ = ("case_id", "tenant_id", "fhir_json", "decided")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    FHIR_JSON_FIELD_NUMBER: _ClassVar[int]
    DECIDED_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    tenant_id: str
    fhir_json: bytes
    decided: bool
    def __init__(self, case_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., fhir_json: _Optional[bytes] = ..., decided: _Optional[bool] = ...) -> None: ...

class RecordPriorAuthDecisionRequest(_message.Message):
    __slots__ = ("case_id", "decision_id", "specialist_id", "decisions", "amendment_reason")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    AMENDMENT_REASON_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    decision_id: str
    specialist_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[_case_pb2.ItemDecision]
    amendment_reason: str
    def __init__(self, case_id: _Optional[str] = ..., decision_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[_case_pb2.ItemDecision, _Mapping]]] = ..., amendment_reason: _Optional[str] = ...) -> None: ...

class PriorAuthDecision(_message.Message):
    __slots__ = ("decision_id", "specialist_id", "decisions", "decided_at", "amendment_reason")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    AMENDMENT_REASON_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    specialist_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[_case_pb2.ItemDecision]
    decided_at: _timestamp_pb2.Timestamp
    amendment_reason: str
    def __init__(self, decision_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[_case_pb2.ItemDecision, _Mapping]]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amendment_reason: _Optional[str] = ...) -> None: ...

class PriorAuthRequest(_message.Message):
    __slots__ = ("submission_id", "claim_identifier", "items", "member_id", "plan", "payer", "requesting_provider", "requesting_organization", "claim_type", "expedited")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    PAYER_FIELD_NUMBER: _ClassVar[int]
    REQUESTING_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUESTING_ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    CLAIM_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPEDITED_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    claim_identifier: str
    items: _containers.RepeatedCompositeFieldContainer[_case_pb2.RequestedService]
    member_id: str
    plan: str
    payer: Party
    requesting_provider: Party
    requesting_organization: Party
    claim_type: str
    expedited: bool
    def __init__(self, submission_id: _Optional[str] = ..., claim_identifier: _Optional[str] = ..., items: _Optional[_Iterable[_Union[_case_pb2.RequestedService, _Mapping]]] = ..., member_id: _Optional[str] = ..., plan: _Optional[str] = ..., payer: _Optional[_Union[Party, _Mapping]] = ..., requesting_provider: _Optional[_Union[Party, _Mapping]] = ..., requesting_organization: _Optional[_Union[Party, _Mapping]] = ..., claim_type: _Optional[str] = ..., expedited: _Optional[bool] = ...) -> None: ...

class Party(_message.Message):
    __slots__ = ("name", "npi", "identifier")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NPI_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    name: str
    npi: str
    identifier: str
    def __init__(self, name: _Optional[str] = ..., npi: _Optional[str] = ..., identifier: _Optional[str] = ...) -> None: ...

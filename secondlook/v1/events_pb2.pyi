import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from secondlook.v1 import case_pb2 as _case_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UnmatchedCause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNMATCHED_CAUSE_UNSPECIFIED: _ClassVar[UnmatchedCause]
    UNMATCHED_CAUSE_NOBODY_ELIGIBLE: _ClassVar[UnmatchedCause]
    UNMATCHED_CAUSE_ATTEMPTS_EXHAUSTED: _ClassVar[UnmatchedCause]
    UNMATCHED_CAUSE_PANEL_INCOMPLETE: _ClassVar[UnmatchedCause]
    UNMATCHED_CAUSE_NO_CAPACITY: _ClassVar[UnmatchedCause]

class SlaChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLA_CHANGE_UNSPECIFIED: _ClassVar[SlaChange]
    SLA_CHANGE_STARTED: _ClassVar[SlaChange]
    SLA_CHANGE_REMINDER: _ClassVar[SlaChange]
    SLA_CHANGE_BREACHED: _ClassVar[SlaChange]

class PanelOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PANEL_OUTCOME_UNSPECIFIED: _ClassVar[PanelOutcome]
    PANEL_OUTCOME_AGREED: _ClassVar[PanelOutcome]
    PANEL_OUTCOME_ADJUDICATED: _ClassVar[PanelOutcome]
    PANEL_OUTCOME_DISAGREED: _ClassVar[PanelOutcome]
    PANEL_OUTCOME_ALONE: _ClassVar[PanelOutcome]
UNMATCHED_CAUSE_UNSPECIFIED: UnmatchedCause
UNMATCHED_CAUSE_NOBODY_ELIGIBLE: UnmatchedCause
UNMATCHED_CAUSE_ATTEMPTS_EXHAUSTED: UnmatchedCause
UNMATCHED_CAUSE_PANEL_INCOMPLETE: UnmatchedCause
UNMATCHED_CAUSE_NO_CAPACITY: UnmatchedCause
SLA_CHANGE_UNSPECIFIED: SlaChange
SLA_CHANGE_STARTED: SlaChange
SLA_CHANGE_REMINDER: SlaChange
SLA_CHANGE_BREACHED: SlaChange
PANEL_OUTCOME_UNSPECIFIED: PanelOutcome
PANEL_OUTCOME_AGREED: PanelOutcome
PANEL_OUTCOME_ADJUDICATED: PanelOutcome
PANEL_OUTCOME_DISAGREED: PanelOutcome
PANEL_OUTCOME_ALONE: PanelOutcome

class Event(_message.Message):
    __slots__ = ("event_id", "type", "case_id", "tenant_id", "occurred_at", "producer", "traceparent", "causation_id", "case_submitted", "matching_started", "specialist_offered", "case_unmatched", "assignment_accepted", "review_started", "opinion_submitted", "opinion_delivered", "case_withdrawn", "offers_withdrawn", "assignments_withdrawn", "documents_added", "assignment_declined", "offer_deadline_passed", "assignment_expired", "opinion_amended", "info_requested", "review_resumed", "sla_changed", "panel_opinion_signed", "panel_concluded", "delivery_dead", "endpoint_disabled", "case_waiting", "redrive_requested", "specialist_changed")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    MATCHING_STARTED_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_OFFERED_FIELD_NUMBER: _ClassVar[int]
    CASE_UNMATCHED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REVIEW_STARTED_FIELD_NUMBER: _ClassVar[int]
    OPINION_SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    OPINION_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    CASE_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    OFFERS_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_ADDED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_DECLINED_FIELD_NUMBER: _ClassVar[int]
    OFFER_DEADLINE_PASSED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    OPINION_AMENDED_FIELD_NUMBER: _ClassVar[int]
    INFO_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    REVIEW_RESUMED_FIELD_NUMBER: _ClassVar[int]
    SLA_CHANGED_FIELD_NUMBER: _ClassVar[int]
    PANEL_OPINION_SIGNED_FIELD_NUMBER: _ClassVar[int]
    PANEL_CONCLUDED_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_DEAD_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_DISABLED_FIELD_NUMBER: _ClassVar[int]
    CASE_WAITING_FIELD_NUMBER: _ClassVar[int]
    REDRIVE_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_CHANGED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    case_id: str
    tenant_id: str
    occurred_at: _timestamp_pb2.Timestamp
    producer: str
    traceparent: str
    causation_id: str
    case_submitted: CaseSubmitted
    matching_started: MatchingStarted
    specialist_offered: SpecialistOffered
    case_unmatched: CaseUnmatched
    assignment_accepted: AssignmentAccepted
    review_started: ReviewStarted
    opinion_submitted: OpinionSubmitted
    opinion_delivered: OpinionDelivered
    case_withdrawn: CaseWithdrawn
    offers_withdrawn: OffersWithdrawn
    assignments_withdrawn: AssignmentsWithdrawn
    documents_added: DocumentsAdded
    assignment_declined: AssignmentDeclined
    offer_deadline_passed: OfferDeadlinePassed
    assignment_expired: AssignmentExpired
    opinion_amended: OpinionAmended
    info_requested: InfoRequested
    review_resumed: ReviewResumed
    sla_changed: SlaChanged
    panel_opinion_signed: PanelOpinionSigned
    panel_concluded: PanelConcluded
    delivery_dead: DeliveryDead
    endpoint_disabled: EndpointDisabled
    case_waiting: CaseWaiting
    redrive_requested: RedriveRequested
    specialist_changed: SpecialistChanged
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., case_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer: _Optional[str] = ..., traceparent: _Optional[str] = ..., causation_id: _Optional[str] = ..., case_submitted: _Optional[_Union[CaseSubmitted, _Mapping]] = ..., matching_started: _Optional[_Union[MatchingStarted, _Mapping]] = ..., specialist_offered: _Optional[_Union[SpecialistOffered, _Mapping]] = ..., case_unmatched: _Optional[_Union[CaseUnmatched, _Mapping]] = ..., assignment_accepted: _Optional[_Union[AssignmentAccepted, _Mapping]] = ..., review_started: _Optional[_Union[ReviewStarted, _Mapping]] = ..., opinion_submitted: _Optional[_Union[OpinionSubmitted, _Mapping]] = ..., opinion_delivered: _Optional[_Union[OpinionDelivered, _Mapping]] = ..., case_withdrawn: _Optional[_Union[CaseWithdrawn, _Mapping]] = ..., offers_withdrawn: _Optional[_Union[OffersWithdrawn, _Mapping]] = ..., assignments_withdrawn: _Optional[_Union[AssignmentsWithdrawn, _Mapping]] = ..., documents_added: _Optional[_Union[DocumentsAdded, _Mapping]] = ..., assignment_declined: _Optional[_Union[AssignmentDeclined, _Mapping]] = ..., offer_deadline_passed: _Optional[_Union[OfferDeadlinePassed, _Mapping]] = ..., assignment_expired: _Optional[_Union[AssignmentExpired, _Mapping]] = ..., opinion_amended: _Optional[_Union[OpinionAmended, _Mapping]] = ..., info_requested: _Optional[_Union[InfoRequested, _Mapping]] = ..., review_resumed: _Optional[_Union[ReviewResumed, _Mapping]] = ..., sla_changed: _Optional[_Union[SlaChanged, _Mapping]] = ..., panel_opinion_signed: _Optional[_Union[PanelOpinionSigned, _Mapping]] = ..., panel_concluded: _Optional[_Union[PanelConcluded, _Mapping]] = ..., delivery_dead: _Optional[_Union[DeliveryDead, _Mapping]] = ..., endpoint_disabled: _Optional[_Union[EndpointDisabled, _Mapping]] = ..., case_waiting: _Optional[_Union[CaseWaiting, _Mapping]] = ..., redrive_requested: _Optional[_Union[RedriveRequested, _Mapping]] = ..., specialist_changed: _Optional[_Union[SpecialistChanged, _Mapping]] = ...) -> None: ...

class CaseWithdrawn(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: _case_pb2.WithdrawalReason
    def __init__(self, reason: _Optional[_Union[_case_pb2.WithdrawalReason, str]] = ...) -> None: ...

class DocumentsAdded(_message.Message):
    __slots__ = ("count", "answers")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    count: int
    answers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, count: _Optional[int] = ..., answers: _Optional[_Iterable[str]] = ...) -> None: ...

class OffersWithdrawn(_message.Message):
    __slots__ = ("assignment_ids",)
    ASSIGNMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    assignment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, assignment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AssignmentsWithdrawn(_message.Message):
    __slots__ = ("assignment_ids",)
    ASSIGNMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    assignment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, assignment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CaseSubmitted(_message.Message):
    __slots__ = ("diagnosis_code", "urgency", "jurisdiction", "language", "kind", "secondary_diagnosis_codes", "panel_requested", "blind_review_requested", "first_opinion_physician_npi", "first_opinion_organization", "first_opinion_organization_npi", "attachment_count", "requested_services")
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_DIAGNOSIS_CODES_FIELD_NUMBER: _ClassVar[int]
    PANEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    BLIND_REVIEW_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    FIRST_OPINION_PHYSICIAN_NPI_FIELD_NUMBER: _ClassVar[int]
    FIRST_OPINION_ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    FIRST_OPINION_ORGANIZATION_NPI_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_SERVICES_FIELD_NUMBER: _ClassVar[int]
    diagnosis_code: str
    urgency: _case_pb2.Urgency
    jurisdiction: str
    language: str
    kind: _case_pb2.CaseKind
    secondary_diagnosis_codes: _containers.RepeatedScalarFieldContainer[str]
    panel_requested: bool
    blind_review_requested: bool
    first_opinion_physician_npi: str
    first_opinion_organization: str
    first_opinion_organization_npi: str
    attachment_count: int
    requested_services: _containers.RepeatedCompositeFieldContainer[_case_pb2.RequestedService]
    def __init__(self, diagnosis_code: _Optional[str] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., kind: _Optional[_Union[_case_pb2.CaseKind, str]] = ..., secondary_diagnosis_codes: _Optional[_Iterable[str]] = ..., panel_requested: _Optional[bool] = ..., blind_review_requested: _Optional[bool] = ..., first_opinion_physician_npi: _Optional[str] = ..., first_opinion_organization: _Optional[str] = ..., first_opinion_organization_npi: _Optional[str] = ..., attachment_count: _Optional[int] = ..., requested_services: _Optional[_Iterable[_Union[_case_pb2.RequestedService, _Mapping]]] = ...) -> None: ...

class MatchingStarted(_message.Message):
    __slots__ = ("specialties",)
    SPECIALTIES_FIELD_NUMBER: _ClassVar[int]
    specialties: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, specialties: _Optional[_Iterable[str]] = ...) -> None: ...

class SpecialistOffered(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "specialty", "respond_by", "explanation", "diagnosis_code", "urgency", "blind_review", "records", "panel_size", "adjudicates", "panel_opinion_ids", "kind", "requested_services", "received_at")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALTY_FIELD_NUMBER: _ClassVar[int]
    RESPOND_BY_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    BLIND_REVIEW_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PANEL_SIZE_FIELD_NUMBER: _ClassVar[int]
    ADJUDICATES_FIELD_NUMBER: _ClassVar[int]
    PANEL_OPINION_IDS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_SERVICES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    specialty: str
    respond_by: _timestamp_pb2.Timestamp
    explanation: str
    diagnosis_code: str
    urgency: _case_pb2.Urgency
    blind_review: bool
    records: int
    panel_size: int
    adjudicates: bool
    panel_opinion_ids: _containers.RepeatedScalarFieldContainer[str]
    kind: _case_pb2.CaseKind
    requested_services: _containers.RepeatedCompositeFieldContainer[_case_pb2.RequestedService]
    received_at: _timestamp_pb2.Timestamp
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., specialty: _Optional[str] = ..., respond_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., explanation: _Optional[str] = ..., diagnosis_code: _Optional[str] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., blind_review: _Optional[bool] = ..., records: _Optional[int] = ..., panel_size: _Optional[int] = ..., adjudicates: _Optional[bool] = ..., panel_opinion_ids: _Optional[_Iterable[str]] = ..., kind: _Optional[_Union[_case_pb2.CaseKind, str]] = ..., requested_services: _Optional[_Iterable[_Union[_case_pb2.RequestedService, _Mapping]]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CaseUnmatched(_message.Message):
    __slots__ = ("reason", "cause", "offers_made")
    REASON_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    OFFERS_MADE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    cause: UnmatchedCause
    offers_made: int
    def __init__(self, reason: _Optional[str] = ..., cause: _Optional[_Union[UnmatchedCause, str]] = ..., offers_made: _Optional[int] = ...) -> None: ...

class CaseWaiting(_message.Message):
    __slots__ = ("reason", "eligible_at_capacity", "wait_until")
    REASON_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_AT_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    WAIT_UNTIL_FIELD_NUMBER: _ClassVar[int]
    reason: str
    eligible_at_capacity: int
    wait_until: _timestamp_pb2.Timestamp
    def __init__(self, reason: _Optional[str] = ..., eligible_at_capacity: _Optional[int] = ..., wait_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AssignmentDeclined(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "reason")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    reason: _case_pb2.DeclineReason
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., reason: _Optional[_Union[_case_pb2.DeclineReason, str]] = ...) -> None: ...

class OfferDeadlinePassed(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "respond_by", "specialist_deactivated")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    RESPOND_BY_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_DEACTIVATED_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    respond_by: _timestamp_pb2.Timestamp
    specialist_deactivated: bool
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., respond_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., specialist_deactivated: _Optional[bool] = ...) -> None: ...

class AssignmentExpired(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "specialist_deactivated")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_DEACTIVATED_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    specialist_deactivated: bool
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., specialist_deactivated: _Optional[bool] = ...) -> None: ...

class AssignmentAccepted(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "sla_due_at")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    SLA_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    sla_due_at: _timestamp_pb2.Timestamp
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., sla_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReviewStarted(_message.Message):
    __slots__ = ("assignment_id", "specialist_id")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ...) -> None: ...

class InfoRequested(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "request_id", "question_count", "sla_seconds_left")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SLA_SECONDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    request_id: str
    question_count: int
    sla_seconds_left: int
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., request_id: _Optional[str] = ..., question_count: _Optional[int] = ..., sla_seconds_left: _Optional[int] = ...) -> None: ...

class ReviewResumed(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "sla_due_at")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    SLA_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    sla_due_at: _timestamp_pb2.Timestamp
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., sla_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SlaChanged(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "change", "due_at", "seconds_left", "reminder", "urgency")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    REMINDER_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    change: SlaChange
    due_at: _timestamp_pb2.Timestamp
    seconds_left: int
    reminder: int
    urgency: _case_pb2.Urgency
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., change: _Optional[_Union[SlaChange, str]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seconds_left: _Optional[int] = ..., reminder: _Optional[int] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ...) -> None: ...

class OpinionSubmitted(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "opinion_id", "diagnosis_concordance", "treatment_concordance", "diagnosis", "reviewer_diagnosis_code", "treatment", "recommended_procedure_codes", "confidence", "version", "blind", "panel_outcome", "panel_opinion_ids", "prior_auth_decisions")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    OPINION_ID_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CONCORDANCE_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_CONCORDANCE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_PROCEDURE_CODES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BLIND_FIELD_NUMBER: _ClassVar[int]
    PANEL_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PANEL_OPINION_IDS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_AUTH_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    opinion_id: str
    diagnosis_concordance: _case_pb2.Concordance
    treatment_concordance: _case_pb2.Concordance
    diagnosis: _case_pb2.DiagnosisConcordance
    reviewer_diagnosis_code: str
    treatment: _case_pb2.TreatmentConcordance
    recommended_procedure_codes: _containers.RepeatedScalarFieldContainer[str]
    confidence: int
    version: int
    blind: bool
    panel_outcome: PanelOutcome
    panel_opinion_ids: _containers.RepeatedScalarFieldContainer[str]
    prior_auth_decisions: _containers.RepeatedCompositeFieldContainer[_case_pb2.ItemDecision]
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., opinion_id: _Optional[str] = ..., diagnosis_concordance: _Optional[_Union[_case_pb2.Concordance, str]] = ..., treatment_concordance: _Optional[_Union[_case_pb2.Concordance, str]] = ..., diagnosis: _Optional[_Union[_case_pb2.DiagnosisConcordance, str]] = ..., reviewer_diagnosis_code: _Optional[str] = ..., treatment: _Optional[_Union[_case_pb2.TreatmentConcordance, str]] = ..., recommended_procedure_codes: _Optional[_Iterable[str]] = ..., confidence: _Optional[int] = ..., version: _Optional[int] = ..., blind: _Optional[bool] = ..., panel_outcome: _Optional[_Union[PanelOutcome, str]] = ..., panel_opinion_ids: _Optional[_Iterable[str]] = ..., prior_auth_decisions: _Optional[_Iterable[_Union[_case_pb2.ItemDecision, _Mapping]]] = ...) -> None: ...

class PanelOpinionSigned(_message.Message):
    __slots__ = ("opinion", "panel_size")
    OPINION_FIELD_NUMBER: _ClassVar[int]
    PANEL_SIZE_FIELD_NUMBER: _ClassVar[int]
    opinion: OpinionSubmitted
    panel_size: int
    def __init__(self, opinion: _Optional[_Union[OpinionSubmitted, _Mapping]] = ..., panel_size: _Optional[int] = ...) -> None: ...

class PanelConcluded(_message.Message):
    __slots__ = ("outcome", "opinion_ids", "agreed")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OPINION_IDS_FIELD_NUMBER: _ClassVar[int]
    AGREED_FIELD_NUMBER: _ClassVar[int]
    outcome: PanelOutcome
    opinion_ids: _containers.RepeatedScalarFieldContainer[str]
    agreed: OpinionSubmitted
    def __init__(self, outcome: _Optional[_Union[PanelOutcome, str]] = ..., opinion_ids: _Optional[_Iterable[str]] = ..., agreed: _Optional[_Union[OpinionSubmitted, _Mapping]] = ...) -> None: ...

class OpinionAmended(_message.Message):
    __slots__ = ("opinion",)
    OPINION_FIELD_NUMBER: _ClassVar[int]
    opinion: OpinionSubmitted
    def __init__(self, opinion: _Optional[_Union[OpinionSubmitted, _Mapping]] = ...) -> None: ...

class OpinionDelivered(_message.Message):
    __slots__ = ("delivery_id", "channel", "attempts")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    channel: str
    attempts: int
    def __init__(self, delivery_id: _Optional[str] = ..., channel: _Optional[str] = ..., attempts: _Optional[int] = ...) -> None: ...

class DeliveryDead(_message.Message):
    __slots__ = ("delivery_id", "channel", "attempts", "endpoint_id", "last_error", "notice_type")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    NOTICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    channel: str
    attempts: int
    endpoint_id: str
    last_error: str
    notice_type: str
    def __init__(self, delivery_id: _Optional[str] = ..., channel: _Optional[str] = ..., attempts: _Optional[int] = ..., endpoint_id: _Optional[str] = ..., last_error: _Optional[str] = ..., notice_type: _Optional[str] = ...) -> None: ...

class EndpointDisabled(_message.Message):
    __slots__ = ("endpoint_id", "consecutive_dead", "reason")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_DEAD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    consecutive_dead: int
    reason: str
    def __init__(self, endpoint_id: _Optional[str] = ..., consecutive_dead: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RedriveRequested(_message.Message):
    __slots__ = ("stuck_in", "stuck_for_seconds", "republish_types")
    STUCK_IN_FIELD_NUMBER: _ClassVar[int]
    STUCK_FOR_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REPUBLISH_TYPES_FIELD_NUMBER: _ClassVar[int]
    stuck_in: _case_pb2.CaseStatus
    stuck_for_seconds: int
    republish_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, stuck_in: _Optional[_Union[_case_pb2.CaseStatus, str]] = ..., stuck_for_seconds: _Optional[int] = ..., republish_types: _Optional[_Iterable[str]] = ...) -> None: ...

class SpecialistChanged(_message.Message):
    __slots__ = ("specialist_id", "version", "created", "active", "accepting", "capacity", "specialties", "jurisdictions", "languages")
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTING_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SPECIALTIES_FIELD_NUMBER: _ClassVar[int]
    JURISDICTIONS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    version: int
    created: bool
    active: bool
    accepting: bool
    capacity: int
    specialties: _containers.RepeatedScalarFieldContainer[str]
    jurisdictions: _containers.RepeatedScalarFieldContainer[str]
    languages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, specialist_id: _Optional[str] = ..., version: _Optional[int] = ..., created: _Optional[bool] = ..., active: _Optional[bool] = ..., accepting: _Optional[bool] = ..., capacity: _Optional[int] = ..., specialties: _Optional[_Iterable[str]] = ..., jurisdictions: _Optional[_Iterable[str]] = ..., languages: _Optional[_Iterable[str]] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from secondlook.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_STATUS_UNSPECIFIED: _ClassVar[CaseStatus]
    CASE_STATUS_SUBMITTED: _ClassVar[CaseStatus]
    CASE_STATUS_MATCHING: _ClassVar[CaseStatus]
    CASE_STATUS_OFFERED: _ClassVar[CaseStatus]
    CASE_STATUS_ASSIGNED: _ClassVar[CaseStatus]
    CASE_STATUS_IN_REVIEW: _ClassVar[CaseStatus]
    CASE_STATUS_NEEDS_INFO: _ClassVar[CaseStatus]
    CASE_STATUS_OPINION_READY: _ClassVar[CaseStatus]
    CASE_STATUS_DELIVERED: _ClassVar[CaseStatus]
    CASE_STATUS_CLOSED: _ClassVar[CaseStatus]
    CASE_STATUS_UNMATCHED: _ClassVar[CaseStatus]
    CASE_STATUS_WITHDRAWN: _ClassVar[CaseStatus]

class WithdrawalReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WITHDRAWAL_REASON_UNSPECIFIED: _ClassVar[WithdrawalReason]
    WITHDRAWAL_REASON_PATIENT_REQUEST: _ClassVar[WithdrawalReason]
    WITHDRAWAL_REASON_DUPLICATE: _ClassVar[WithdrawalReason]
    WITHDRAWAL_REASON_SUBMITTED_IN_ERROR: _ClassVar[WithdrawalReason]
    WITHDRAWAL_REASON_TREATMENT_DECIDED: _ClassVar[WithdrawalReason]
    WITHDRAWAL_REASON_OTHER: _ClassVar[WithdrawalReason]

class CaseKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_KIND_UNSPECIFIED: _ClassVar[CaseKind]
    CASE_KIND_SECOND_OPINION: _ClassVar[CaseKind]
    CASE_KIND_PRIOR_AUTH: _ClassVar[CaseKind]

class Urgency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    URGENCY_UNSPECIFIED: _ClassVar[Urgency]
    URGENCY_STANDARD: _ClassVar[Urgency]
    URGENCY_EXPEDITED: _ClassVar[Urgency]

class DeclineReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECLINE_REASON_UNSPECIFIED: _ClassVar[DeclineReason]
    DECLINE_REASON_CONFLICT_OF_INTEREST: _ClassVar[DeclineReason]
    DECLINE_REASON_OUTSIDE_EXPERTISE: _ClassVar[DeclineReason]
    DECLINE_REASON_NO_CAPACITY: _ClassVar[DeclineReason]
    DECLINE_REASON_UNAVAILABLE: _ClassVar[DeclineReason]
    DECLINE_REASON_OTHER: _ClassVar[DeclineReason]

class Concordance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONCORDANCE_UNSPECIFIED: _ClassVar[Concordance]
    CONCORDANCE_SAME: _ClassVar[Concordance]
    CONCORDANCE_REFINED: _ClassVar[Concordance]
    CONCORDANCE_DIFFERENT: _ClassVar[Concordance]

class DiagnosisConcordance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIAGNOSIS_CONCORDANCE_UNSPECIFIED: _ClassVar[DiagnosisConcordance]
    DIAGNOSIS_CONCORDANCE_CONFIRMED: _ClassVar[DiagnosisConcordance]
    DIAGNOSIS_CONCORDANCE_REFINED: _ClassVar[DiagnosisConcordance]
    DIAGNOSIS_CONCORDANCE_DIFFERENT: _ClassVar[DiagnosisConcordance]

class TreatmentConcordance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TREATMENT_CONCORDANCE_UNSPECIFIED: _ClassVar[TreatmentConcordance]
    TREATMENT_CONCORDANCE_AGREE: _ClassVar[TreatmentConcordance]
    TREATMENT_CONCORDANCE_AGREE_WITH_MODIFICATIONS: _ClassVar[TreatmentConcordance]
    TREATMENT_CONCORDANCE_ALTERNATIVE_RECOMMENDED: _ClassVar[TreatmentConcordance]
    TREATMENT_CONCORDANCE_NOT_RECOMMENDED: _ClassVar[TreatmentConcordance]

class ItemAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ITEM_ACTION_UNSPECIFIED: _ClassVar[ItemAction]
    ITEM_ACTION_APPROVE: _ClassVar[ItemAction]
    ITEM_ACTION_MODIFY: _ClassVar[ItemAction]
    ITEM_ACTION_DENY: _ClassVar[ItemAction]
    ITEM_ACTION_PEND: _ClassVar[ItemAction]
CASE_STATUS_UNSPECIFIED: CaseStatus
CASE_STATUS_SUBMITTED: CaseStatus
CASE_STATUS_MATCHING: CaseStatus
CASE_STATUS_OFFERED: CaseStatus
CASE_STATUS_ASSIGNED: CaseStatus
CASE_STATUS_IN_REVIEW: CaseStatus
CASE_STATUS_NEEDS_INFO: CaseStatus
CASE_STATUS_OPINION_READY: CaseStatus
CASE_STATUS_DELIVERED: CaseStatus
CASE_STATUS_CLOSED: CaseStatus
CASE_STATUS_UNMATCHED: CaseStatus
CASE_STATUS_WITHDRAWN: CaseStatus
WITHDRAWAL_REASON_UNSPECIFIED: WithdrawalReason
WITHDRAWAL_REASON_PATIENT_REQUEST: WithdrawalReason
WITHDRAWAL_REASON_DUPLICATE: WithdrawalReason
WITHDRAWAL_REASON_SUBMITTED_IN_ERROR: WithdrawalReason
WITHDRAWAL_REASON_TREATMENT_DECIDED: WithdrawalReason
WITHDRAWAL_REASON_OTHER: WithdrawalReason
CASE_KIND_UNSPECIFIED: CaseKind
CASE_KIND_SECOND_OPINION: CaseKind
CASE_KIND_PRIOR_AUTH: CaseKind
URGENCY_UNSPECIFIED: Urgency
URGENCY_STANDARD: Urgency
URGENCY_EXPEDITED: Urgency
DECLINE_REASON_UNSPECIFIED: DeclineReason
DECLINE_REASON_CONFLICT_OF_INTEREST: DeclineReason
DECLINE_REASON_OUTSIDE_EXPERTISE: DeclineReason
DECLINE_REASON_NO_CAPACITY: DeclineReason
DECLINE_REASON_UNAVAILABLE: DeclineReason
DECLINE_REASON_OTHER: DeclineReason
CONCORDANCE_UNSPECIFIED: Concordance
CONCORDANCE_SAME: Concordance
CONCORDANCE_REFINED: Concordance
CONCORDANCE_DIFFERENT: Concordance
DIAGNOSIS_CONCORDANCE_UNSPECIFIED: DiagnosisConcordance
DIAGNOSIS_CONCORDANCE_CONFIRMED: DiagnosisConcordance
DIAGNOSIS_CONCORDANCE_REFINED: DiagnosisConcordance
DIAGNOSIS_CONCORDANCE_DIFFERENT: DiagnosisConcordance
TREATMENT_CONCORDANCE_UNSPECIFIED: TreatmentConcordance
TREATMENT_CONCORDANCE_AGREE: TreatmentConcordance
TREATMENT_CONCORDANCE_AGREE_WITH_MODIFICATIONS: TreatmentConcordance
TREATMENT_CONCORDANCE_ALTERNATIVE_RECOMMENDED: TreatmentConcordance
TREATMENT_CONCORDANCE_NOT_RECOMMENDED: TreatmentConcordance
ITEM_ACTION_UNSPECIFIED: ItemAction
ITEM_ACTION_APPROVE: ItemAction
ITEM_ACTION_MODIFY: ItemAction
ITEM_ACTION_DENY: ItemAction
ITEM_ACTION_PEND: ItemAction

class TimelineEntry(_message.Message):
    __slots__ = ("status", "event_type", "event_id", "producer", "occurred_at", "recorded_at", "detail")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    status: CaseStatus
    event_type: str
    event_id: str
    producer: str
    occurred_at: _timestamp_pb2.Timestamp
    recorded_at: _timestamp_pb2.Timestamp
    detail: str
    def __init__(self, status: _Optional[_Union[CaseStatus, str]] = ..., event_type: _Optional[str] = ..., event_id: _Optional[str] = ..., producer: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class RequestedService(_message.Message):
    __slots__ = ("key", "sequence", "system", "code", "quantity", "unit", "qualified_specialties")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_SPECIALTIES_FIELD_NUMBER: _ClassVar[int]
    key: str
    sequence: int
    system: str
    code: str
    quantity: float
    unit: str
    qualified_specialties: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., sequence: _Optional[int] = ..., system: _Optional[str] = ..., code: _Optional[str] = ..., quantity: _Optional[float] = ..., unit: _Optional[str] = ..., qualified_specialties: _Optional[_Iterable[str]] = ...) -> None: ...

class ItemDecision(_message.Message):
    __slots__ = ("item_key", "action", "reason_code", "provider_text", "patient_text", "approved_quantity", "approved_code")
    ITEM_KEY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_TEXT_FIELD_NUMBER: _ClassVar[int]
    PATIENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    APPROVED_CODE_FIELD_NUMBER: _ClassVar[int]
    item_key: str
    action: ItemAction
    reason_code: str
    provider_text: str
    patient_text: str
    approved_quantity: float
    approved_code: str
    def __init__(self, item_key: _Optional[str] = ..., action: _Optional[_Union[ItemAction, str]] = ..., reason_code: _Optional[str] = ..., provider_text: _Optional[str] = ..., patient_text: _Optional[str] = ..., approved_quantity: _Optional[float] = ..., approved_code: _Optional[str] = ...) -> None: ...

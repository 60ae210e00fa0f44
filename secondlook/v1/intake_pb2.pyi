import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from secondlook.v1 import case_pb2 as _case_pb2
from secondlook.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Patient(_message.Message):
    __slots__ = ("given_name", "family_name", "birth_date")
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    given_name: str
    family_name: str
    birth_date: str
    def __init__(self, given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("granted", "granted_at")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    granted_at: _timestamp_pb2.Timestamp
    def __init__(self, granted: _Optional[bool] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubmitCaseRequest(_message.Message):
    __slots__ = ("client_request_id", "patient", "diagnosis_code", "proposed_treatment", "urgency", "jurisdiction", "language", "consent")
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_TREATMENT_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    client_request_id: str
    patient: Patient
    diagnosis_code: str
    proposed_treatment: str
    urgency: _case_pb2.Urgency
    jurisdiction: str
    language: str
    consent: Consent
    def __init__(self, client_request_id: _Optional[str] = ..., patient: _Optional[_Union[Patient, _Mapping]] = ..., diagnosis_code: _Optional[str] = ..., proposed_treatment: _Optional[str] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., consent: _Optional[_Union[Consent, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("case_id", "tenant_id", "client_request_id", "status", "diagnosis_code", "urgency", "jurisdiction", "language", "submitted_at", "updated_at", "timeline", "specialist_id")
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
    def __init__(self, case_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., client_request_id: _Optional[str] = ..., status: _Optional[_Union[_case_pb2.CaseStatus, str]] = ..., diagnosis_code: _Optional[str] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timeline: _Optional[_Iterable[_Union[_case_pb2.TimelineEntry, _Mapping]]] = ..., specialist_id: _Optional[str] = ...) -> None: ...

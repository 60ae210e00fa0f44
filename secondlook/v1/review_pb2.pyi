import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from secondlook.v1 import case_pb2 as _case_pb2
from secondlook.v1 import intake_pb2 as _intake_pb2
from secondlook.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AssignmentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSIGNMENT_STATE_UNSPECIFIED: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_OFFERED: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_ACCEPTED: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_IN_REVIEW: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_OPINION_SUBMITTED: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_WITHDRAWN: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_DECLINED: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_EXPIRED: _ClassVar[AssignmentState]
    ASSIGNMENT_STATE_NEEDS_INFO: _ClassVar[AssignmentState]

class SlaState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLA_STATE_UNSPECIFIED: _ClassVar[SlaState]
    SLA_STATE_NOT_STARTED: _ClassVar[SlaState]
    SLA_STATE_RUNNING: _ClassVar[SlaState]
    SLA_STATE_PAUSED: _ClassVar[SlaState]
    SLA_STATE_STOPPED: _ClassVar[SlaState]
ASSIGNMENT_STATE_UNSPECIFIED: AssignmentState
ASSIGNMENT_STATE_OFFERED: AssignmentState
ASSIGNMENT_STATE_ACCEPTED: AssignmentState
ASSIGNMENT_STATE_IN_REVIEW: AssignmentState
ASSIGNMENT_STATE_OPINION_SUBMITTED: AssignmentState
ASSIGNMENT_STATE_WITHDRAWN: AssignmentState
ASSIGNMENT_STATE_DECLINED: AssignmentState
ASSIGNMENT_STATE_EXPIRED: AssignmentState
ASSIGNMENT_STATE_NEEDS_INFO: AssignmentState
SLA_STATE_UNSPECIFIED: SlaState
SLA_STATE_NOT_STARTED: SlaState
SLA_STATE_RUNNING: SlaState
SLA_STATE_PAUSED: SlaState
SLA_STATE_STOPPED: SlaState

class DecidePriorAuthRequest(_message.Message):
    __slots__ = ("assignment_id", "decisions", "questions", "amendment_reason")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    AMENDMENT_REASON_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[_case_pb2.ItemDecision]
    questions: _containers.RepeatedScalarFieldContainer[str]
    amendment_reason: str
    def __init__(self, assignment_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[_case_pb2.ItemDecision, _Mapping]]] = ..., questions: _Optional[_Iterable[str]] = ..., amendment_reason: _Optional[str] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("assignment_id", "case_id", "specialist_id", "specialty", "state", "diagnosis_code", "urgency", "offered_at", "respond_by", "decline_reason", "blind_review", "sla", "panel_size", "adjudicates")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALTY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    OFFERED_AT_FIELD_NUMBER: _ClassVar[int]
    RESPOND_BY_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    BLIND_REVIEW_FIELD_NUMBER: _ClassVar[int]
    SLA_FIELD_NUMBER: _ClassVar[int]
    PANEL_SIZE_FIELD_NUMBER: _ClassVar[int]
    ADJUDICATES_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    case_id: str
    specialist_id: str
    specialty: str
    state: AssignmentState
    diagnosis_code: str
    urgency: _case_pb2.Urgency
    offered_at: _timestamp_pb2.Timestamp
    respond_by: _timestamp_pb2.Timestamp
    decline_reason: _case_pb2.DeclineReason
    blind_review: bool
    sla: SlaStatus
    panel_size: int
    adjudicates: bool
    def __init__(self, assignment_id: _Optional[str] = ..., case_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., specialty: _Optional[str] = ..., state: _Optional[_Union[AssignmentState, str]] = ..., diagnosis_code: _Optional[str] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., offered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., respond_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decline_reason: _Optional[_Union[_case_pb2.DeclineReason, str]] = ..., blind_review: _Optional[bool] = ..., sla: _Optional[_Union[SlaStatus, _Mapping]] = ..., panel_size: _Optional[int] = ..., adjudicates: _Optional[bool] = ...) -> None: ...

class SlaStatus(_message.Message):
    __slots__ = ("state", "due_at", "seconds_left", "budget_seconds", "reminders_sent", "breached")
    STATE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REMINDERS_SENT_FIELD_NUMBER: _ClassVar[int]
    BREACHED_FIELD_NUMBER: _ClassVar[int]
    state: SlaState
    due_at: _timestamp_pb2.Timestamp
    seconds_left: int
    budget_seconds: int
    reminders_sent: int
    breached: bool
    def __init__(self, state: _Optional[_Union[SlaState, str]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seconds_left: _Optional[int] = ..., budget_seconds: _Optional[int] = ..., reminders_sent: _Optional[int] = ..., breached: _Optional[bool] = ...) -> None: ...

class ListAssignmentsRequest(_message.Message):
    __slots__ = ("states", "urgency", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[AssignmentState]
    urgency: _case_pb2.Urgency
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[AssignmentState, str]]] = ..., urgency: _Optional[_Union[_case_pb2.Urgency, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAssignmentsResponse(_message.Message):
    __slots__ = ("assignments", "next_page_token")
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    next_page_token: str
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AssignmentDetail(_message.Message):
    __slots__ = ("assignment", "case", "opinions", "blind_review", "first_opinion_withheld", "independent_assessment", "panel_opinions")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    CASE_FIELD_NUMBER: _ClassVar[int]
    OPINIONS_FIELD_NUMBER: _ClassVar[int]
    BLIND_REVIEW_FIELD_NUMBER: _ClassVar[int]
    FIRST_OPINION_WITHHELD_FIELD_NUMBER: _ClassVar[int]
    INDEPENDENT_ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    PANEL_OPINIONS_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    case: _intake_pb2.CaseForReview
    opinions: _containers.RepeatedCompositeFieldContainer[OpinionVersion]
    blind_review: bool
    first_opinion_withheld: bool
    independent_assessment: IndependentAssessment
    panel_opinions: _containers.RepeatedCompositeFieldContainer[PanelMemberOpinion]
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ..., case: _Optional[_Union[_intake_pb2.CaseForReview, _Mapping]] = ..., opinions: _Optional[_Iterable[_Union[OpinionVersion, _Mapping]]] = ..., blind_review: _Optional[bool] = ..., first_opinion_withheld: _Optional[bool] = ..., independent_assessment: _Optional[_Union[IndependentAssessment, _Mapping]] = ..., panel_opinions: _Optional[_Iterable[_Union[PanelMemberOpinion, _Mapping]]] = ...) -> None: ...

class PanelMemberOpinion(_message.Message):
    __slots__ = ("specialist_id", "opinion")
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    OPINION_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    opinion: OpinionVersion
    def __init__(self, specialist_id: _Optional[str] = ..., opinion: _Optional[_Union[OpinionVersion, _Mapping]] = ...) -> None: ...

class WatchAssignmentsRequest(_message.Message):
    __slots__ = ("resume_after",)
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    resume_after: str
    def __init__(self, resume_after: _Optional[str] = ...) -> None: ...

class AssignmentChange(_message.Message):
    __slots__ = ("assignment", "version", "position")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    version: int
    position: str
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ..., version: _Optional[int] = ..., position: _Optional[str] = ...) -> None: ...

class AssignmentRequest(_message.Message):
    __slots__ = ("assignment_id",)
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    def __init__(self, assignment_id: _Optional[str] = ...) -> None: ...

class RequestMoreInfoRequest(_message.Message):
    __slots__ = ("assignment_id", "questions")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    questions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, assignment_id: _Optional[str] = ..., questions: _Optional[_Iterable[str]] = ...) -> None: ...

class DeclineAssignmentRequest(_message.Message):
    __slots__ = ("assignment_id", "reason", "note")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    reason: _case_pb2.DeclineReason
    note: str
    def __init__(self, assignment_id: _Optional[str] = ..., reason: _Optional[_Union[_case_pb2.DeclineReason, str]] = ..., note: _Optional[str] = ...) -> None: ...

class Opinion(_message.Message):
    __slots__ = ("diagnosis_concordance", "treatment_concordance", "recommendation", "narrative", "confidence", "attestation", "diagnosis", "reviewer_diagnosis_code", "treatment", "recommended_procedures", "further_tests", "patient_summary", "no_conflict_of_interest", "all_records_reviewed")
    DIAGNOSIS_CONCORDANCE_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_CONCORDANCE_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    NARRATIVE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_PROCEDURES_FIELD_NUMBER: _ClassVar[int]
    FURTHER_TESTS_FIELD_NUMBER: _ClassVar[int]
    PATIENT_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NO_CONFLICT_OF_INTEREST_FIELD_NUMBER: _ClassVar[int]
    ALL_RECORDS_REVIEWED_FIELD_NUMBER: _ClassVar[int]
    diagnosis_concordance: _case_pb2.Concordance
    treatment_concordance: _case_pb2.Concordance
    recommendation: str
    narrative: str
    confidence: int
    attestation: bool
    diagnosis: _case_pb2.DiagnosisConcordance
    reviewer_diagnosis_code: str
    treatment: _case_pb2.TreatmentConcordance
    recommended_procedures: _containers.RepeatedCompositeFieldContainer[_intake_pb2.ProcedureCode]
    further_tests: _containers.RepeatedScalarFieldContainer[str]
    patient_summary: str
    no_conflict_of_interest: bool
    all_records_reviewed: bool
    def __init__(self, diagnosis_concordance: _Optional[_Union[_case_pb2.Concordance, str]] = ..., treatment_concordance: _Optional[_Union[_case_pb2.Concordance, str]] = ..., recommendation: _Optional[str] = ..., narrative: _Optional[str] = ..., confidence: _Optional[int] = ..., attestation: _Optional[bool] = ..., diagnosis: _Optional[_Union[_case_pb2.DiagnosisConcordance, str]] = ..., reviewer_diagnosis_code: _Optional[str] = ..., treatment: _Optional[_Union[_case_pb2.TreatmentConcordance, str]] = ..., recommended_procedures: _Optional[_Iterable[_Union[_intake_pb2.ProcedureCode, _Mapping]]] = ..., further_tests: _Optional[_Iterable[str]] = ..., patient_summary: _Optional[str] = ..., no_conflict_of_interest: _Optional[bool] = ..., all_records_reviewed: _Optional[bool] = ...) -> None: ...

class SubmitOpinionRequest(_message.Message):
    __slots__ = ("assignment_id", "opinion")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPINION_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    opinion: Opinion
    def __init__(self, assignment_id: _Optional[str] = ..., opinion: _Optional[_Union[Opinion, _Mapping]] = ...) -> None: ...

class IndependentAssessment(_message.Message):
    __slots__ = ("diagnosis_code", "recommended_procedures", "treatment", "recorded_at")
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_PROCEDURES_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    diagnosis_code: str
    recommended_procedures: _containers.RepeatedCompositeFieldContainer[_intake_pb2.ProcedureCode]
    treatment: str
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, diagnosis_code: _Optional[str] = ..., recommended_procedures: _Optional[_Iterable[_Union[_intake_pb2.ProcedureCode, _Mapping]]] = ..., treatment: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordAssessmentRequest(_message.Message):
    __slots__ = ("assignment_id", "assessment")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    assessment: IndependentAssessment
    def __init__(self, assignment_id: _Optional[str] = ..., assessment: _Optional[_Union[IndependentAssessment, _Mapping]] = ...) -> None: ...

class AmendOpinionRequest(_message.Message):
    __slots__ = ("assignment_id", "opinion", "reason", "amends_version")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPINION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AMENDS_VERSION_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    opinion: Opinion
    reason: str
    amends_version: int
    def __init__(self, assignment_id: _Optional[str] = ..., opinion: _Optional[_Union[Opinion, _Mapping]] = ..., reason: _Optional[str] = ..., amends_version: _Optional[int] = ...) -> None: ...

class OpinionVersion(_message.Message):
    __slots__ = ("version", "opinion_id", "opinion", "signed_at", "amendment_reason", "blind", "independent_assessment")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OPINION_ID_FIELD_NUMBER: _ClassVar[int]
    OPINION_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    AMENDMENT_REASON_FIELD_NUMBER: _ClassVar[int]
    BLIND_FIELD_NUMBER: _ClassVar[int]
    INDEPENDENT_ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    version: int
    opinion_id: str
    opinion: Opinion
    signed_at: _timestamp_pb2.Timestamp
    amendment_reason: str
    blind: bool
    independent_assessment: IndependentAssessment
    def __init__(self, version: _Optional[int] = ..., opinion_id: _Optional[str] = ..., opinion: _Optional[_Union[Opinion, _Mapping]] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amendment_reason: _Optional[str] = ..., blind: _Optional[bool] = ..., independent_assessment: _Optional[_Union[IndependentAssessment, _Mapping]] = ...) -> None: ...

from secondlook.v1 import case_pb2 as _case_pb2
from secondlook.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CodeRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: str
    last: str
    def __init__(self, first: _Optional[str] = ..., last: _Optional[str] = ...) -> None: ...

class Licence(_message.Message):
    __slots__ = ("jurisdiction", "expires")
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    jurisdiction: str
    expires: str
    def __init__(self, jurisdiction: _Optional[str] = ..., expires: _Optional[str] = ...) -> None: ...

class Certification(_message.Message):
    __slots__ = ("board", "specialty", "expires")
    BOARD_FIELD_NUMBER: _ClassVar[int]
    SPECIALTY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    board: str
    specialty: str
    expires: str
    def __init__(self, board: _Optional[str] = ..., specialty: _Optional[str] = ..., expires: _Optional[str] = ...) -> None: ...

class DirectoryOrganization(_message.Message):
    __slots__ = ("organization_id", "name", "npi")
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NPI_FIELD_NUMBER: _ClassVar[int]
    organization_id: str
    name: str
    npi: str
    def __init__(self, organization_id: _Optional[str] = ..., name: _Optional[str] = ..., npi: _Optional[str] = ...) -> None: ...

class Absence(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: str
    last: str
    def __init__(self, first: _Optional[str] = ..., last: _Optional[str] = ...) -> None: ...

class Specialist(_message.Message):
    __slots__ = ("specialist_id", "npi", "display_name", "specialties", "focus", "licences", "certifications", "years_in_practice", "languages", "affiliations", "declared_conflicts", "capacity", "accepting", "out_of_office", "case_kinds", "turnaround_days", "quality", "active", "free_slots", "version", "email", "phone", "notice_language")
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    NPI_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SPECIALTIES_FIELD_NUMBER: _ClassVar[int]
    FOCUS_FIELD_NUMBER: _ClassVar[int]
    LICENCES_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    YEARS_IN_PRACTICE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    AFFILIATIONS_FIELD_NUMBER: _ClassVar[int]
    DECLARED_CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTING_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_OFFICE_FIELD_NUMBER: _ClassVar[int]
    CASE_KINDS_FIELD_NUMBER: _ClassVar[int]
    TURNAROUND_DAYS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    NOTICE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    npi: str
    display_name: str
    specialties: _containers.RepeatedScalarFieldContainer[str]
    focus: _containers.RepeatedCompositeFieldContainer[CodeRange]
    licences: _containers.RepeatedCompositeFieldContainer[Licence]
    certifications: _containers.RepeatedCompositeFieldContainer[Certification]
    years_in_practice: int
    languages: _containers.RepeatedScalarFieldContainer[str]
    affiliations: _containers.RepeatedCompositeFieldContainer[DirectoryOrganization]
    declared_conflicts: _containers.RepeatedCompositeFieldContainer[DirectoryOrganization]
    capacity: int
    accepting: bool
    out_of_office: _containers.RepeatedCompositeFieldContainer[Absence]
    case_kinds: _containers.RepeatedScalarFieldContainer[_case_pb2.CaseKind]
    turnaround_days: float
    quality: float
    active: bool
    free_slots: int
    version: int
    email: str
    phone: str
    notice_language: str
    def __init__(self, specialist_id: _Optional[str] = ..., npi: _Optional[str] = ..., display_name: _Optional[str] = ..., specialties: _Optional[_Iterable[str]] = ..., focus: _Optional[_Iterable[_Union[CodeRange, _Mapping]]] = ..., licences: _Optional[_Iterable[_Union[Licence, _Mapping]]] = ..., certifications: _Optional[_Iterable[_Union[Certification, _Mapping]]] = ..., years_in_practice: _Optional[int] = ..., languages: _Optional[_Iterable[str]] = ..., affiliations: _Optional[_Iterable[_Union[DirectoryOrganization, _Mapping]]] = ..., declared_conflicts: _Optional[_Iterable[_Union[DirectoryOrganization, _Mapping]]] = ..., capacity: _Optional[int] = ..., accepting: _Optional[bool] = ..., out_of_office: _Optional[_Iterable[_Union[Absence, _Mapping]]] = ..., case_kinds: _Optional[_Iterable[_Union[_case_pb2.CaseKind, str]]] = ..., turnaround_days: _Optional[float] = ..., quality: _Optional[float] = ..., active: _Optional[bool] = ..., free_slots: _Optional[int] = ..., version: _Optional[int] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., notice_language: _Optional[str] = ...) -> None: ...

class UpsertSpecialistRequest(_message.Message):
    __slots__ = ("specialist", "expected_version", "reactivate")
    SPECIALIST_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REACTIVATE_FIELD_NUMBER: _ClassVar[int]
    specialist: Specialist
    expected_version: int
    reactivate: bool
    def __init__(self, specialist: _Optional[_Union[Specialist, _Mapping]] = ..., expected_version: _Optional[int] = ..., reactivate: _Optional[bool] = ...) -> None: ...

class UpsertSpecialistResponse(_message.Message):
    __slots__ = ("specialist", "created", "unchanged")
    SPECIALIST_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    specialist: Specialist
    created: bool
    unchanged: bool
    def __init__(self, specialist: _Optional[_Union[Specialist, _Mapping]] = ..., created: _Optional[bool] = ..., unchanged: _Optional[bool] = ...) -> None: ...

class GetSpecialistRequest(_message.Message):
    __slots__ = ("specialist_id",)
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    def __init__(self, specialist_id: _Optional[str] = ...) -> None: ...

class ListSpecialistsRequest(_message.Message):
    __slots__ = ("specialty", "jurisdiction", "language", "accepting_only", "page_size", "page_token")
    SPECIALTY_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTING_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    specialty: str
    jurisdiction: str
    language: str
    accepting_only: bool
    page_size: int
    page_token: str
    def __init__(self, specialty: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., accepting_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSpecialistsResponse(_message.Message):
    __slots__ = ("specialists", "next_page_token")
    SPECIALISTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    specialists: _containers.RepeatedCompositeFieldContainer[Specialist]
    next_page_token: str
    def __init__(self, specialists: _Optional[_Iterable[_Union[Specialist, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeactivateSpecialistRequest(_message.Message):
    __slots__ = ("specialist_id",)
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    def __init__(self, specialist_id: _Optional[str] = ...) -> None: ...

class ExplainMatchRequest(_message.Message):
    __slots__ = ("case_id", "page_size", "page_token")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    page_size: int
    page_token: str
    def __init__(self, case_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ScoreComponents(_message.Message):
    __slots__ = ("fit", "load", "turnaround", "quality", "total")
    FIT_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    TURNAROUND_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    fit: float
    load: float
    turnaround: float
    quality: float
    total: float
    def __init__(self, fit: _Optional[float] = ..., load: _Optional[float] = ..., turnaround: _Optional[float] = ..., quality: _Optional[float] = ..., total: _Optional[float] = ...) -> None: ...

class SpecialistVerdict(_message.Message):
    __slots__ = ("specialist_id", "excluded_by", "rule", "specialty", "score", "rank", "chosen")
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_BY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    SPECIALTY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    excluded_by: str
    rule: str
    specialty: str
    score: ScoreComponents
    rank: int
    chosen: bool
    def __init__(self, specialist_id: _Optional[str] = ..., excluded_by: _Optional[str] = ..., rule: _Optional[str] = ..., specialty: _Optional[str] = ..., score: _Optional[_Union[ScoreComponents, _Mapping]] = ..., rank: _Optional[int] = ..., chosen: _Optional[bool] = ...) -> None: ...

class MatchOffer(_message.Message):
    __slots__ = ("assignment_id", "specialist_id", "specialty", "score", "explanation", "offered_at", "state")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIALTY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    OFFERED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    specialist_id: str
    specialty: str
    score: float
    explanation: str
    offered_at: str
    state: str
    def __init__(self, assignment_id: _Optional[str] = ..., specialist_id: _Optional[str] = ..., specialty: _Optional[str] = ..., score: _Optional[float] = ..., explanation: _Optional[str] = ..., offered_at: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...

class MatchExplanation(_message.Message):
    __slots__ = ("case_id", "diagnosis_code", "jurisdiction", "language", "specialties", "offers", "unmatched_reason", "directory_size", "excluded_by_rule", "eligible", "verdicts", "next_page_token", "waiting_since", "wait_until")
    class ExcludedByRuleEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SPECIALTIES_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_REASON_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_BY_RULE_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WAITING_SINCE_FIELD_NUMBER: _ClassVar[int]
    WAIT_UNTIL_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    diagnosis_code: str
    jurisdiction: str
    language: str
    specialties: _containers.RepeatedScalarFieldContainer[str]
    offers: _containers.RepeatedCompositeFieldContainer[MatchOffer]
    unmatched_reason: str
    directory_size: int
    excluded_by_rule: _containers.ScalarMap[str, int]
    eligible: int
    verdicts: _containers.RepeatedCompositeFieldContainer[SpecialistVerdict]
    next_page_token: str
    waiting_since: str
    wait_until: str
    def __init__(self, case_id: _Optional[str] = ..., diagnosis_code: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., language: _Optional[str] = ..., specialties: _Optional[_Iterable[str]] = ..., offers: _Optional[_Iterable[_Union[MatchOffer, _Mapping]]] = ..., unmatched_reason: _Optional[str] = ..., directory_size: _Optional[int] = ..., excluded_by_rule: _Optional[_Mapping[str, int]] = ..., eligible: _Optional[int] = ..., verdicts: _Optional[_Iterable[_Union[SpecialistVerdict, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., waiting_since: _Optional[str] = ..., wait_until: _Optional[str] = ...) -> None: ...

class GetSpecialistContactRequest(_message.Message):
    __slots__ = ("specialist_id", "purpose", "channels")
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    purpose: str
    channels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, specialist_id: _Optional[str] = ..., purpose: _Optional[str] = ..., channels: _Optional[_Iterable[str]] = ...) -> None: ...

class SpecialistContact(_message.Message):
    __slots__ = ("specialist_id", "email", "phone", "language")
    SPECIALIST_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    specialist_id: str
    email: str
    phone: str
    language: str
    def __init__(self, specialist_id: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class ImportSpecialistsRequest(_message.Message):
    __slots__ = ("csv", "dry_run", "fhir_bundle")
    CSV_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    FHIR_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    csv: str
    dry_run: bool
    fhir_bundle: str
    def __init__(self, csv: _Optional[str] = ..., dry_run: _Optional[bool] = ..., fhir_bundle: _Optional[str] = ...) -> None: ...

class ImportSpecialistsResponse(_message.Message):
    __slots__ = ("rows", "created", "updated", "unchanged")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    rows: int
    created: int
    updated: int
    unchanged: int
    def __init__(self, rows: _Optional[int] = ..., created: _Optional[int] = ..., updated: _Optional[int] = ..., unchanged: _Optional[int] = ...) -> None: ...

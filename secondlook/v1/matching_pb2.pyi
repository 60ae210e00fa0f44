from secondlook.v1 import case_pb2 as _case_pb2
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
    __slots__ = ("specialist_id", "npi", "display_name", "specialties", "focus", "licences", "certifications", "years_in_practice", "languages", "affiliations", "declared_conflicts", "capacity", "accepting", "out_of_office", "case_kinds", "turnaround_days", "quality", "active", "free_slots", "version")
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
    def __init__(self, specialist_id: _Optional[str] = ..., npi: _Optional[str] = ..., display_name: _Optional[str] = ..., specialties: _Optional[_Iterable[str]] = ..., focus: _Optional[_Iterable[_Union[CodeRange, _Mapping]]] = ..., licences: _Optional[_Iterable[_Union[Licence, _Mapping]]] = ..., certifications: _Optional[_Iterable[_Union[Certification, _Mapping]]] = ..., years_in_practice: _Optional[int] = ..., languages: _Optional[_Iterable[str]] = ..., affiliations: _Optional[_Iterable[_Union[DirectoryOrganization, _Mapping]]] = ..., declared_conflicts: _Optional[_Iterable[_Union[DirectoryOrganization, _Mapping]]] = ..., capacity: _Optional[int] = ..., accepting: _Optional[bool] = ..., out_of_office: _Optional[_Iterable[_Union[Absence, _Mapping]]] = ..., case_kinds: _Optional[_Iterable[_Union[_case_pb2.CaseKind, str]]] = ..., turnaround_days: _Optional[float] = ..., quality: _Optional[float] = ..., active: _Optional[bool] = ..., free_slots: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class UpsertSpecialistRequest(_message.Message):
    __slots__ = ("specialist", "expected_version")
    SPECIALIST_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    specialist: Specialist
    expected_version: int
    def __init__(self, specialist: _Optional[_Union[Specialist, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpsertSpecialistResponse(_message.Message):
    __slots__ = ("specialist", "created")
    SPECIALIST_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    specialist: Specialist
    created: bool
    def __init__(self, specialist: _Optional[_Union[Specialist, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

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

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterWebhookRequest(_message.Message):
    __slots__ = ("url",)
    URL_FIELD_NUMBER: _ClassVar[int]
    url: str
    def __init__(self, url: _Optional[str] = ...) -> None: ...

class RegisterWebhookResponse(_message.Message):
    __slots__ = ("endpoint_id", "secret")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    secret: str
    def __init__(self, endpoint_id: _Optional[str] = ..., secret: _Optional[str] = ...) -> None: ...

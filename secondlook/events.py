"""Building, encoding and decoding the protobuf Event envelope.

An event's `type` is derived from its payload (`case_submitted` becomes
"case.submitted"), so type and payload can never disagree.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timezone

from google.protobuf.message import DecodeError, Message

from secondlook.v1 import events_pb2
from secondlook.v1.events_pb2 import Event

_PAYLOAD_FIELDS = {f.message_type.name: f.name for f in Event.DESCRIPTOR.oneofs_by_name["payload"].fields}


def type_of_field(field: str) -> str:
    return field.replace("_", ".", 1)


KNOWN_TYPES = frozenset(type_of_field(f) for f in _PAYLOAD_FIELDS.values())


class UndecodableEvent(ValueError):
    """The bytes are not a well-formed secondlook Event."""


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_traceparent(trace_id: str | None = None) -> str:
    """W3C trace context header value with a fresh span id."""
    return f"00-{trace_id or new_trace_id()}-{secrets.token_hex(8)}-01"


def trace_id_of(traceparent: str) -> str:
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else ""


def new_event(
    payload: Message,
    *,
    case_id: str,
    tenant_id: str,
    producer: str,
    traceparent: str = "",
    causation_id: str = "",
    occurred_at: datetime | None = None,
) -> Event:
    field = _PAYLOAD_FIELDS.get(payload.DESCRIPTOR.name)
    if field is None:
        raise TypeError(f"{payload.DESCRIPTOR.full_name} is not an Event payload")
    event = Event(
        event_id=str(uuid.uuid4()),
        type=type_of_field(field),
        case_id=case_id,
        tenant_id=tenant_id,
        producer=producer,
        traceparent=new_traceparent(trace_id_of(traceparent) or None),
        causation_id=causation_id,
    )
    event.occurred_at.FromDatetime(occurred_at or datetime.now(timezone.utc))
    getattr(event, field).CopyFrom(payload)
    return event


def caused_by(cause: Event, payload: Message, *, producer: str) -> Event:
    """An event produced in reaction to `cause`: same case, tenant and trace."""
    return new_event(
        payload,
        case_id=cause.case_id,
        tenant_id=cause.tenant_id,
        producer=producer,
        traceparent=cause.traceparent,
        causation_id=cause.event_id,
    )


def decode(raw: bytes) -> Event:
    """Parses and checks the envelope's invariants; raises UndecodableEvent."""
    event = Event()
    try:
        event.ParseFromString(raw)
    except DecodeError as exc:
        raise UndecodableEvent(f"not a secondlook.v1.Event protobuf: {exc}") from exc
    missing = [f for f in ("event_id", "type", "case_id", "producer") if not getattr(event, f)]
    if missing:
        raise UndecodableEvent(f"Event fields required but empty: {', '.join(missing)}")
    field = event.WhichOneof("payload")
    if field is None and event.type not in KNOWN_TYPES:
        return event  # a newer producer's type, unknown to this reader: no handler takes it, nothing is lost
    if field is None:
        raise UndecodableEvent("Event.payload: no payload set")
    if type_of_field(field) != event.type:
        raise UndecodableEvent(f"Event.type {event.type!r} does not match payload {field!r}")
    return event


def headers_of(event: Event) -> list[tuple[str, bytes]]:
    """Kafka headers: routing and tracing without parsing the value."""
    return [
        ("event-id", event.event_id.encode()),
        ("event-type", event.type.encode()),
        ("producer", event.producer.encode()),
        ("traceparent", event.traceparent.encode()),
    ]


__all__ = ["Event", "events_pb2", "new_event", "caused_by", "decode", "headers_of", "UndecodableEvent"]

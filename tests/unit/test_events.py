from datetime import datetime, timezone

import pytest

from secondlook import events
from secondlook.v1 import events_pb2


def test_type_follows_the_payload_and_round_trips():
    event = events.new_event(events_pb2.CaseSubmitted(diagnosis_code="C50.911"), case_id="c1",
                             tenant_id="t1", producer="intake")
    decoded = events.decode(event.SerializeToString())
    assert decoded.type == "case.submitted"
    assert decoded.case_submitted.diagnosis_code == "C50.911"
    assert decoded.event_id and decoded.traceparent.startswith("00-")


def test_a_caused_event_keeps_case_tenant_and_trace_but_gets_its_own_span():
    cause = events.new_event(events_pb2.CaseSubmitted(), case_id="c1", tenant_id="t1", producer="intake")
    effect = events.caused_by(cause, events_pb2.MatchingStarted(), producer="matching")
    assert (effect.case_id, effect.tenant_id, effect.causation_id) == ("c1", "t1", cause.event_id)
    assert events.trace_id_of(effect.traceparent) == events.trace_id_of(cause.traceparent)
    assert effect.traceparent != cause.traceparent


def test_only_event_payloads_are_accepted():
    with pytest.raises(TypeError):
        events.new_event(events_pb2.Event(), case_id="c", tenant_id="t", producer="p")


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\xff\xff\xff", "not a secondlook.v1.Event"),
        (events_pb2.Event(type="case.submitted", case_id="c", producer="p").SerializeToString(), "event_id"),
        (events_pb2.Event(event_id="e", type="case.submitted", case_id="c", producer="p").SerializeToString(),
         "no payload"),
        (events_pb2.Event(event_id="e", type="opinion.submitted", case_id="c", producer="p",
                          case_submitted=events_pb2.CaseSubmitted()).SerializeToString(), "does not match"),
    ],
)
def test_malformed_events_are_rejected_with_the_reason(raw, message):
    with pytest.raises(events.UndecodableEvent, match=message):
        events.decode(raw)


def test_a_newer_producers_event_type_decodes_for_no_handler_to_take_not_as_poison():
    # As a reader built before a type existed sees it: a type it does not know, the payload
    # in a field it does not know (left out here: to this reader it is an unknown field).
    unknown = events_pb2.Event(event_id="e", type="review.reassessed", case_id="c", producer="review")
    assert events.decode(unknown.SerializeToString()).type == "review.reassessed"


def test_occurred_at_is_kept():
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    event = events.new_event(events_pb2.CaseUnmatched(reason="x"), case_id="c", tenant_id="t",
                             producer="matching", occurred_at=at)
    assert event.occurred_at.ToDatetime(tzinfo=timezone.utc) == at
    assert dict(events.headers_of(event))["event-type"] == b"case.unmatched"

from datetime import datetime, timezone

import pytest

from secondlook.v1.case_pb2 import CaseStatus as S
from services.intake.domain.lifecycle import IllegalTransition, apply_event, statuses_along

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)


def step(current, event_type, event_id="e1", seen=()):
    return apply_event(current, set(seen), event_type=event_type, event_id=event_id, producer="p",
                       occurred_at=NOW, now=NOW)


def test_events_move_the_case_forward_and_are_recorded():
    t = step(S.CASE_STATUS_SUBMITTED, "matching.started")
    assert (t.status, t.status_changed) == (S.CASE_STATUS_MATCHING, True)
    assert t.entry.status == S.CASE_STATUS_MATCHING and t.entry.event_id == "e1"


def test_a_late_event_is_recorded_without_moving_the_status_back():
    t = step(S.CASE_STATUS_ASSIGNED, "specialist.offered")
    assert (t.status, t.status_changed) == (S.CASE_STATUS_ASSIGNED, False)
    assert t.entry.status == S.CASE_STATUS_OFFERED


def test_an_event_already_seen_changes_nothing():
    t = step(S.CASE_STATUS_MATCHING, "matching.started", seen={"e1"})
    assert t.entry is None and not t.status_changed


@pytest.mark.parametrize("current, event_type", [
    (S.CASE_STATUS_WITHDRAWN, "specialist.offered"),
    (S.CASE_STATUS_CLOSED, "opinion.delivered"),
    (S.CASE_STATUS_ASSIGNED, "case.unmatched"),
    (S.CASE_STATUS_UNMATCHED, "assignment.accepted"),
])
def test_illegal_transitions_are_refused(current, event_type):
    with pytest.raises(IllegalTransition):
        step(current, event_type)


@pytest.mark.parametrize("current", [S.CASE_STATUS_MATCHING, S.CASE_STATUS_OFFERED])
def test_unmatched_is_reachable_until_a_specialist_accepts(current):
    assert step(current, "case.unmatched").status == S.CASE_STATUS_UNMATCHED


def test_unknown_event_types_are_not_stage_events():
    with pytest.raises(IllegalTransition, match="not a stage event"):
        step(S.CASE_STATUS_SUBMITTED, "redrive.requested")


@pytest.mark.parametrize("current", [S.CASE_STATUS_OFFERED, S.CASE_STATUS_UNMATCHED])
@pytest.mark.parametrize("event_type", ["assignment.declined", "assignment.expired"])
def test_a_declined_or_expired_offer_is_recorded_and_never_moves_the_status(current, event_type):
    # On OFFERED the next offer moves the case on; on UNMATCHED (the unmatched came
    # first, on matching's topic) the decline must not bring the case back to MATCHING.
    t = step(current, event_type)
    assert (t.status, t.status_changed) == (current, False)
    assert t.entry.status == S.CASE_STATUS_MATCHING and t.entry.event_type == event_type
    assert statuses_along((t.entry,)) == [S.CASE_STATUS_UNSPECIFIED]


def test_a_decline_code_this_intake_does_not_know_is_still_recorded():
    from secondlook.events import new_event
    from secondlook.v1 import events_pb2
    from services.intake.domain.case import detail_of

    event = new_event(events_pb2.AssignmentDeclined(reason=99), case_id="c", tenant_id="t", producer="review")
    assert detail_of(event) == "the offer was declined (code 99): matching looks for another reviewer"


def test_an_amended_opinion_is_recorded_with_its_version_and_moves_nothing():
    from secondlook.events import new_event
    from secondlook.v1 import events_pb2
    from services.intake.domain.case import detail_of

    t = step(S.CASE_STATUS_DELIVERED, "opinion.amended")
    assert (t.status, t.status_changed, t.entry.status) == (S.CASE_STATUS_DELIVERED, False, S.CASE_STATUS_OPINION_READY)
    event = new_event(events_pb2.OpinionAmended(opinion=events_pb2.OpinionSubmitted(version=2)), case_id="c",
                      tenant_id="t", producer="review")
    assert detail_of(event) == "the opinion was amended: version 2"


def test_needs_info_sits_beside_in_review_and_only_its_own_events_move_between_them():
    asked = step(S.CASE_STATUS_IN_REVIEW, "info.requested")
    assert (asked.status, asked.status_changed) == (S.CASE_STATUS_NEEDS_INFO, True)
    # Another panel member's late stage event does not end the wait.
    assert step(S.CASE_STATUS_NEEDS_INFO, "review.started").status == S.CASE_STATUS_NEEDS_INFO
    assert step(S.CASE_STATUS_NEEDS_INFO, "assignment.accepted").status == S.CASE_STATUS_NEEDS_INFO
    assert step(S.CASE_STATUS_NEEDS_INFO, "review.resumed").status == S.CASE_STATUS_IN_REVIEW
    # Intake moved it back itself (AddDocuments): the resumption is recorded, nothing moves.
    t = step(S.CASE_STATUS_IN_REVIEW, "review.resumed")
    assert (t.status, t.status_changed, t.entry.event_type) == (S.CASE_STATUS_IN_REVIEW, False, "review.resumed")
    # A request seen after the opinion (a replay) does not take the case back.
    assert step(S.CASE_STATUS_OPINION_READY, "info.requested").status == S.CASE_STATUS_OPINION_READY
    assert step(S.CASE_STATUS_NEEDS_INFO, "opinion.submitted").status == S.CASE_STATUS_OPINION_READY
    entries = [step(s, e, event_id=e).entry for s, e in (
        (S.CASE_STATUS_ASSIGNED, "review.started"), (S.CASE_STATUS_IN_REVIEW, "info.requested"),
        (S.CASE_STATUS_NEEDS_INFO, "review.resumed"))]
    assert statuses_along(tuple(entries)) == [S.CASE_STATUS_IN_REVIEW, S.CASE_STATUS_NEEDS_INFO,
                                              S.CASE_STATUS_IN_REVIEW]


def test_the_status_after_any_prefix_of_a_timeline_is_what_the_projection_had_then():
    """An earlier version of a case's status read is replayed from its timeline."""
    import random

    from services.intake.domain.lifecycle import STATUS_OF_EVENT, status_after

    rng = random.Random(7)
    kinds = [k for k in STATUS_OF_EVENT if k != "case.submitted"]
    for _ in range(300):
        first = step(S.CASE_STATUS_UNSPECIFIED, "case.submitted", "e0")
        status, entries, had = first.status, [first.entry], [first.status]
        for n in range(rng.randrange(1, 14)):
            try:
                t = step(status, rng.choice(kinds), f"e{n + 1}")
            except IllegalTransition:
                continue
            status = t.status
            entries.append(t.entry)
            had.append(status)
        assert [status_after(entries[:k]) for k in range(1, len(entries) + 1)] == had

"""The case lifecycle and intake's status projection.

Events from different services travel on different topics, so intake may see
"assignment.accepted" before "specialist.offered". The projection therefore
moves the status forward only: a late event is still recorded in the timeline
but never moves the status back. A transition the lifecycle forbids (anything
after WITHDRAWN or CLOSED, UNMATCHED once a specialist accepted) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from secondlook.v1.case_pb2 import CaseStatus

S = CaseStatus

STATUS_OF_EVENT: dict[str, int] = {
    "case.submitted": S.CASE_STATUS_SUBMITTED,
    "matching.started": S.CASE_STATUS_MATCHING,
    "specialist.offered": S.CASE_STATUS_OFFERED,
    "case.unmatched": S.CASE_STATUS_UNMATCHED,
    # Nobody free now, eligible specialists at capacity: the case waits, still being matched.
    "case.waiting": S.CASE_STATUS_MATCHING,
    # An offer declined or expired: the case is being matched again (recorded, never a step back).
    "assignment.declined": S.CASE_STATUS_MATCHING,
    "assignment.expired": S.CASE_STATUS_MATCHING,
    # A signed opinion's new version: recorded beside OPINION_READY.
    "opinion.amended": S.CASE_STATUS_OPINION_READY,
    # The review's SLA clock started late, reminded the reviewer or was breached: recorded at the case's status.
    "sla.changed": S.CASE_STATUS_IN_REVIEW,
    # A panel member's opinion, and the panel's conclusion: the case's opinion comes after (opinion.submitted).
    "panel.opinion_signed": S.CASE_STATUS_IN_REVIEW,
    "panel.concluded": S.CASE_STATUS_IN_REVIEW,
    "assignment.accepted": S.CASE_STATUS_ASSIGNED,
    "review.started": S.CASE_STATUS_IN_REVIEW,
    "info.requested": S.CASE_STATUS_NEEDS_INFO,
    "review.resumed": S.CASE_STATUS_IN_REVIEW,
    "opinion.submitted": S.CASE_STATUS_OPINION_READY,
    "opinion.delivered": S.CASE_STATUS_DELIVERED,
    "case.withdrawn": S.CASE_STATUS_WITHDRAWN,
}
# Recorded on the timeline, never moving the status (a re-offer moves it on).
RECORDED_ONLY = frozenset({"assignment.declined", "assignment.expired", "opinion.amended", "sla.changed",
                           "panel.opinion_signed", "panel.concluded", "case.waiting"})
# Recorded at the status the case has, not the one STATUS_OF_EVENT names.
AT_CURRENT = frozenset({"sla.changed", "panel.opinion_signed", "panel.concluded"})
# NEEDS_INFO sits beside IN_REVIEW: only these events move a case between the two
# (event -> the statuses it moves a case from), so a late stage event of another
# panel member never does.
SIDEWAYS: dict[str, frozenset[int]] = {
    "info.requested": frozenset({S.CASE_STATUS_IN_REVIEW}),
    "review.resumed": frozenset({S.CASE_STATUS_NEEDS_INFO}),
    "documents.added": frozenset({S.CASE_STATUS_NEEDS_INFO}),  # the submitter's answer (intake's own)
}
# What intake itself records (with the command), not by projecting another service's event.
OWN_EVENTS = frozenset({"case.submitted", "case.withdrawn", "documents.added"})

# Position along the main line; NEEDS_INFO sits beside IN_REVIEW.
_RANK = {
    S.CASE_STATUS_SUBMITTED: 1,
    S.CASE_STATUS_MATCHING: 2,
    S.CASE_STATUS_OFFERED: 3,
    S.CASE_STATUS_ASSIGNED: 4,
    S.CASE_STATUS_IN_REVIEW: 5,
    S.CASE_STATUS_NEEDS_INFO: 5,
    S.CASE_STATUS_OPINION_READY: 6,
    S.CASE_STATUS_DELIVERED: 7,
    S.CASE_STATUS_CLOSED: 8,
    S.CASE_STATUS_WITHDRAWN: 9,
}

FINAL = frozenset({S.CASE_STATUS_CLOSED, S.CASE_STATUS_WITHDRAWN})
# Someone has accepted the case: ASSIGNED and every stage after it on the main line.
ACCEPTED_STAGES = frozenset(s for s, rank in _RANK.items()
                            if rank >= _RANK[S.CASE_STATUS_ASSIGNED] and s != S.CASE_STATUS_WITHDRAWN)
# Nothing more is expected to happen to the case.
SETTLED = FINAL | {S.CASE_STATUS_DELIVERED, S.CASE_STATUS_UNMATCHED}
# A case can be withdrawn until its opinion is delivered.
WITHDRAWABLE = frozenset(_RANK) - {S.CASE_STATUS_DELIVERED, S.CASE_STATUS_CLOSED, S.CASE_STATUS_WITHDRAWN} \
    | {S.CASE_STATUS_UNMATCHED}

# Stages the system owns, and what moves a case on from each: the sweeper
# re-drives only these, asking for these events to be published again.
# OFFERED, ASSIGNED, IN_REVIEW and NEEDS_INFO wait on a person: SLA clocks
# watch them, not the sweeper.
REDRIVE_REPUBLISH: dict[int, tuple[str, ...]] = {
    S.CASE_STATUS_SUBMITTED: ("case.submitted", "matching.started", "specialist.offered", "case.unmatched"),
    S.CASE_STATUS_MATCHING: ("specialist.offered", "case.unmatched"),
    S.CASE_STATUS_OPINION_READY: ("opinion.submitted", "opinion.delivered"),
}
SYSTEM_STAGES = frozenset(REDRIVE_REPUBLISH)


class IllegalTransition(Exception):
    pass


@dataclass(frozen=True)
class TimelineEntry:
    status: int
    event_type: str
    event_id: str
    producer: str
    occurred_at: datetime
    recorded_at: datetime
    detail: str = ""  # why: an UNMATCHED's reason, a declined offer's (no PHI)
    ref: str = ""  # the reviewer's requests it makes or answers (ids, comma-separated)


@dataclass(frozen=True)
class Transition:
    status: int  # the status after the event (may equal the one before)
    entry: TimelineEntry | None  # None: the event was already in the timeline
    status_changed: bool


def status_name(status: int) -> str:
    return CaseStatus.Name(status).removeprefix("CASE_STATUS_")


def apply_event(
    current: int,
    seen_event_ids: set[str],
    *,
    event_type: str,
    event_id: str,
    producer: str,
    occurred_at: datetime,
    now: datetime,
) -> Transition:
    """Decides what a stage event does to a case in status `current`."""
    target = STATUS_OF_EVENT.get(event_type)
    if target is None:
        raise IllegalTransition(f"{event_type!r} is not a stage event")
    if event_id in seen_event_ids:
        return Transition(current, None, False)
    if current in FINAL:
        raise IllegalTransition(f"case is {status_name(current)}: {event_type} cannot apply")
    # An offer declined or expired with nobody left leaves OFFERED for UNMATCHED.
    if target == S.CASE_STATUS_UNMATCHED and _RANK.get(current, 0) > _RANK[S.CASE_STATUS_OFFERED]:
        raise IllegalTransition(f"case is {status_name(current)}: it cannot become UNMATCHED")
    if current == S.CASE_STATUS_UNMATCHED and target not in FINAL and _RANK.get(target, 0) > _RANK[S.CASE_STATUS_MATCHING]:
        raise IllegalTransition(f"case is UNMATCHED: {event_type} needs a new match first")
    entry = TimelineEntry(current if event_type in AT_CURRENT else target, event_type, event_id, producer,
                          occurred_at, now)
    forward = moves(current, target, event_type)
    return Transition(target if forward else current, entry, forward)


def status_after(entries) -> int:
    """The status a case had once these timeline entries (in the order recorded) were
    projected: the first entry's, then each that moved it on (`moves`), as apply_event
    decided at the time. What an earlier version of the case's status read shows."""
    status = entries[0].status
    for entry in entries[1:]:
        if moves(status, entry.status, entry.event_type):
            status = entry.status
    return status


def moves(current: int, target: int, event_type: str) -> bool:
    """Whether an entry of `event_type` for `target` moves a case in `current` on (a
    late one is only recorded)."""
    if event_type in RECORDED_ONLY:
        return False
    if current in SIDEWAYS.get(event_type, ()):
        return True
    return target == S.CASE_STATUS_UNMATCHED or _RANK.get(target, 0) > _RANK.get(current, 0)


# The stages every delivered case went through, in order.
MAIN_LINE = (S.CASE_STATUS_SUBMITTED, S.CASE_STATUS_MATCHING, S.CASE_STATUS_OFFERED, S.CASE_STATUS_ASSIGNED,
             S.CASE_STATUS_IN_REVIEW, S.CASE_STATUS_OPINION_READY, S.CASE_STATUS_DELIVERED)


def timeline_complete(status: int, timeline: tuple[TimelineEntry, ...]) -> bool:
    """Whether no more entries are to come: the case is final, or delivered with every
    stage before it recorded (stages travel on different topics, so an earlier one
    may be recorded just after DELIVERED)."""
    if status in FINAL:
        return True
    return status == S.CASE_STATUS_DELIVERED and set(MAIN_LINE) <= {e.status for e in timeline}


def statuses_along(timeline: tuple[TimelineEntry, ...]) -> list[int]:
    """The case's status after each entry of its timeline, as the projection moved it."""
    statuses, current = [], S.CASE_STATUS_UNSPECIFIED
    for entry in timeline:
        if moves(current, entry.status, entry.event_type):
            current = entry.status
        statuses.append(current)
    return statuses

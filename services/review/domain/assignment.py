"""An assignment moves OFFERED -> ACCEPTED -> IN_REVIEW -> OPINION_SUBMITTED; the
reviewer may decline the offer instead of accepting it (DECLINED), an offer nobody
answered by its deadline EXPIRES, a reviewer may ask for more information
(IN_REVIEW -> NEEDS_INFO, back to IN_REVIEW when the submitter adds records), and
a withdrawn case leaves every open assignment WITHDRAWN.

Each action is allowed from the states TRANSITIONS names; anything else is
refused with the state it was attempted in, never applied. An offer can no
longer be accepted once its deadline has passed. The domain builds
the entities and the events they cause; it does no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from secondlook.events import Event, caused_by, new_event
from secondlook.v1 import case_pb2, events_pb2
from secondlook.v1.case_pb2 import CaseKind, DeclineReason
from secondlook.v1.review_pb2 import AssignmentState
from secondlook.validation import enum_problem

from . import sla
from .opinion import BACK_DIAGNOSIS, BACK_TREATMENT, Assessment, OpinionRecord, conclusions
from .priorauth import NUMBER_OF, ItemDecision, Requested
from .sla import SlaClock, SlaRules

A = AssignmentState

# action -> (states it may start from, state it leads to, the field stamped with its time)
TRANSITIONS = {
    "accept": ((A.ASSIGNMENT_STATE_OFFERED,), A.ASSIGNMENT_STATE_ACCEPTED, "accepted_at"),
    "start": ((A.ASSIGNMENT_STATE_ACCEPTED,), A.ASSIGNMENT_STATE_IN_REVIEW, "started_at"),
    # From NEEDS_INFO too: a reviewer who no longer needs the records answered is not held.
    "submit_opinion": ((A.ASSIGNMENT_STATE_IN_REVIEW, A.ASSIGNMENT_STATE_NEEDS_INFO),
                       A.ASSIGNMENT_STATE_OPINION_SUBMITTED, "opinion_submitted_at"),
    # Only an offer: once accepted the case is the reviewer's (intake shows it ASSIGNED).
    "decline": ((A.ASSIGNMENT_STATE_OFFERED,), A.ASSIGNMENT_STATE_DECLINED, "declined_at"),
    "expire": ((A.ASSIGNMENT_STATE_OFFERED,), A.ASSIGNMENT_STATE_EXPIRED, "expired_at"),
    "request_info": ((A.ASSIGNMENT_STATE_IN_REVIEW,), A.ASSIGNMENT_STATE_NEEDS_INFO, "info_requested_at"),
    "resume": ((A.ASSIGNMENT_STATE_NEEDS_INFO,), A.ASSIGNMENT_STATE_IN_REVIEW, "resumed_at"),
}
STAMPS = tuple(t[2] for t in TRANSITIONS.values()) + ("withdrawn_at", "amended_at")

MAX_NOTE = 2_000


class IllegalAction(Exception):
    pass


@dataclass(frozen=True)
class Assignment:
    assignment_id: str
    case_id: str
    tenant_id: str
    specialist_id: str
    specialty: str
    state: int
    diagnosis_code: str
    urgency: int
    offered_at: datetime
    respond_by: datetime
    traceparent: str = ""
    # When each action happened, by TRANSITIONS' field name.
    stamps: dict[str, datetime] = field(default_factory=dict)
    # Up by one with every change; when review last changed it (the reviewer's feed follows both).
    version: int = 1
    changed_at: datetime | None = None
    # Set by a decline: the coded reason (in the event) and the reviewer's note (never in events).
    decline_reason: int = 0
    decline_note: str = ""
    # Blind review: the case asks for it, and the reviewer's independent assessment once recorded.
    blind_review: bool = False
    assessment: Assessment | None = None
    # The last request for more information (its questions are kept by intake, with the case).
    info_request_id: str = ""
    info_questions: int = 0
    info_requests_made: int = 0
    # Records the case held when offered (the SLA clock waits for one), and the clock once accepted.
    records: int = 0
    sla: SlaClock | None = None
    # A panel: its seats (0 or 1: a single reviewer); an adjudicator's assignment, and the
    # members' opinions it weighs.
    panel_size: int = 0
    adjudicates: bool = False
    panel_opinion_ids: tuple[str, ...] = ()
    # A prior authorization: the items to decide (with who may deny or modify each) and
    # when the request was received (its CMS-0057-F clock runs from then).
    kind: int = CaseKind.CASE_KIND_SECOND_OPINION
    requested: tuple[Requested, ...] = ()
    received_at: datetime | None = None
    decisions_made: int = 0  # the decision and its amendments
    decision_id: str = ""  # the decision that stands

    @property
    def prior_auth(self) -> bool:
        return self.kind == CaseKind.CASE_KIND_PRIOR_AUTH

    @property
    def panel_member(self) -> bool:
        """One opinion of several: the case's opinion comes from the panel's conclusion."""
        return self.panel_size > 1 and not self.adjudicates


# How a refusal names a move: as the reviewer's call (decide_prior_auth moves as a submission does).
ACTION_NAMES = {"submit_opinion": "SubmitOpinion (or a DecidePriorAuth decision)", "accept": "AcceptAssignment",
                "decline": "DeclineAssignment", "start": "StartReview", "request_info": "RequestMoreInfo"}


def state_name(state: int) -> str:
    return AssignmentState.Name(state).removeprefix("ASSIGNMENT_STATE_")


def next_state(current: int, action: str) -> int:
    needed, result, _ = TRANSITIONS[action]
    if current not in needed:
        names = " or ".join(state_name(n) for n in needed)
        raise IllegalAction(f"{ACTION_NAMES.get(action, action)} needs state {names}; the assignment is "
                            f"{state_name(current)}")
    return result


# Moves that bring nothing but their state: one asked again once made (its answer lost
# on the way back) finds the assignment where it would have put it, and changes nothing.
_REPEATABLE = {"accept": A.ASSIGNMENT_STATE_ACCEPTED, "start": A.ASSIGNMENT_STATE_IN_REVIEW}


def moved(assignment: Assignment, action: str, now: datetime, **changes) -> Assignment:
    """The assignment once `action` has moved it on `now` (IllegalAction when out of
    turn, or an acceptance after the offer's deadline); the assignment itself,
    unchanged, when an accept or a start is asked again once made."""
    if _REPEATABLE.get(action) == assignment.state and not changes:
        return assignment
    state = next_state(assignment.state, action)
    if action == "submit_opinion" and assignment.blind_review and assignment.assessment is None:
        raise IllegalAction("a blind review records the independent assessment first (RecordIndependentAssessment)")
    if action == "accept" and now > assignment.respond_by:
        raise IllegalAction(f"the offer's deadline passed at {assignment.respond_by.isoformat(timespec='seconds')}: "
                            "it can no longer be accepted")
    stamp = TRANSITIONS[action][2]
    moved = replace(assignment, state=state, stamps={**assignment.stamps, stamp: now},
                    version=assignment.version + 1, changed_at=now, **changes)
    return replace(moved, sla=_clock_after(moved.sla, action, now, assignment.prior_auth)) \
        if moved.sla is not None else moved


def _clock_after(clock: SlaClock, action: str, now: datetime, prior_auth: bool = False) -> SlaClock:
    """The SLA clock pauses while the reviewer waits on the submitter and stops with the
    opinion. A prior authorization's (CMS-0057-F) runs on while pended: the payer decides
    within it, records or not."""
    if prior_auth and action in ("request_info", "resume"):
        return clock
    if action == "request_info":
        return sla.paused(clock, now)
    if action == "resume":
        return sla.resumed(clock, now)
    if action in ("submit_opinion", "decline", "expire"):
        return sla.stopped(clock, now)
    return clock


def accepted(assignment: Assignment, rules: SlaRules, now: datetime) -> Assignment:
    """The offer accepted; the SLA clock starts now if the case holds records. A prior
    authorization's clock is the CMS-0057-F one: it has run since the request was
    received, records or not (the request is the record)."""
    moved_ = moved(assignment, "accept", now)
    if moved_ is assignment:  # accepted already
        return assignment
    if assignment.prior_auth:
        return replace(moved_, sla=sla.started(rules, assignment.urgency, assignment.received_at or now,
                                               prior_auth=True))
    return replace(moved_, sla=sla.started(rules, assignment.urgency, now)) if assignment.records else moved_


def records_arrived(assignment: Assignment, answers: frozenset[str], rules: SlaRules,
                    now: datetime) -> Assignment | None:
    """Records were added to the case, answering the requests `answers` names: a
    review waiting on one of them goes on (its clock runs again), and a clock that
    waited for the case's first records starts. None when neither applies (records
    added before a request was made do not answer it)."""
    if assignment.state == A.ASSIGNMENT_STATE_NEEDS_INFO:
        if assignment.info_request_id not in answers:
            return None
        going = moved(assignment, "resume", now)
        if going.sla is None:  # the case's first records: the clock starts now
            going = replace(going, sla=sla.started(rules, assignment.urgency, now), records=assignment.records + 1)
        return going
    if assignment.sla is None and assignment.state in (A.ASSIGNMENT_STATE_ACCEPTED, A.ASSIGNMENT_STATE_IN_REVIEW):
        return replace(assignment, sla=sla.started(rules, assignment.urgency, now), records=assignment.records + 1,
                       version=assignment.version + 1, changed_at=now)
    if assignment.state == A.ASSIGNMENT_STATE_OFFERED and not assignment.records:
        return replace(assignment, records=1, version=assignment.version + 1, changed_at=now)  # accepting starts it
    return None


def sla_alarm(assignment: Assignment, now: datetime) -> tuple[Assignment, sla.Alarm] | None:
    """A reminder or the breach fallen due, recorded on the assignment; None when nothing is due."""
    if assignment.sla is None or assignment.state not in OPEN:
        return None
    found = sla.alarm(assignment.sla, now)
    if found is None:
        return None
    return replace(assignment, sla=found.clock, version=assignment.version + 1, changed_at=now), found


def sla_next_at(assignment: Assignment) -> datetime | None:
    """When the assignment's clock next falls due (the deadline keeper arms it)."""
    return sla.next_alarm_at(assignment.sla) if assignment.sla is not None and assignment.state in OPEN else None


def declined(assignment: Assignment, reason: int, note: str, now: datetime) -> Assignment:
    """The offer declined; the assignment itself, unchanged, when the same decline is
    asked again once made (a retry after a lost answer). Another reason is refused."""
    if assignment.state == A.ASSIGNMENT_STATE_DECLINED and (assignment.decline_reason, assignment.decline_note) \
            == (reason, note):
        return assignment
    return moved(assignment, "decline", now, decline_reason=reason, decline_note=note)


def expired(assignment: Assignment, now: datetime, taken_back: bool = False) -> Assignment | None:
    """The offer once its deadline passed, or None when it was answered first (accepted,
    declined) or withdrawn: the reviewer's answer wins over a deadline it beat. None
    too before the deadline by this service's clock (matching's may run ahead): the
    reviewer keeps the time they were shown, and matching sends the deadline again;
    unless the offer is `taken_back` (its specialist was deactivated): then at once."""
    if assignment.state != A.ASSIGNMENT_STATE_OFFERED or (now < assignment.respond_by and not taken_back):
        return None
    return moved(assignment, "expire", now)


def validate_decline(reason: int, note: str) -> list[tuple[str, str]]:
    v = []
    if problem := enum_problem(DeclineReason, reason, "DECLINE_REASON_"):
        v.append(("reason", problem))
    if len(note) > MAX_NOTE:
        v.append(("note", f"must be at most {MAX_NOTE} characters"))
    return v


OPEN = frozenset({A.ASSIGNMENT_STATE_OFFERED, A.ASSIGNMENT_STATE_ACCEPTED, A.ASSIGNMENT_STATE_IN_REVIEW,
                  A.ASSIGNMENT_STATE_NEEDS_INFO})


def questions_text(questions: list[str]) -> str:
    """The questions as one text, for their fingerprint (info_request_id)."""
    return "\x1f".join(questions)


def info_request_id(assignment: Assignment, fingerprint: str, n: int | None = None) -> str:
    """The id of the assignment's request number `n` (default: the next) with the
    questions of this `fingerprint` (a keyed digest of `questions_text`: a plain hash
    of the reviewer's words, which events and both stores carry in the id, would let
    anyone holding it test a guessed text): a retried call names the same request
    (intake keeps it once), other questions another one (the first, never confirmed,
    is never shown)."""
    n = assignment.info_requests_made + 1 if n is None else n
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"secondlook:info-request:{assignment.assignment_id}:{n}:{fingerprint}"))


def info_requested(assignment: Assignment, request_id: str, questions: int, now: datetime) -> Assignment:
    """The assignment waiting on the submitter (IllegalAction unless IN_REVIEW)."""
    return moved(assignment, "request_info", now, info_request_id=request_id, info_questions=questions,
                 info_requests_made=assignment.info_requests_made + 1)


def assessed(assignment: Assignment, assessment: Assessment, now: datetime) -> Assignment:
    """The assignment once the reviewer recorded their independent assessment (once,
    on a blind review, before the opinion)."""
    if not assignment.blind_review:
        raise IllegalAction("the case does not ask for blind review: there is no first assessment to record")
    if assignment.assessment is not None:
        if replace(assessment, recorded_at=assignment.assessment.recorded_at) == assignment.assessment:
            return assignment  # the same one again (its answer lost): nothing changes
        raise IllegalAction("the independent assessment is recorded already: it is kept as it was")
    if assignment.state not in (A.ASSIGNMENT_STATE_ACCEPTED, A.ASSIGNMENT_STATE_IN_REVIEW):
        raise IllegalAction(f"record the assessment needs state ACCEPTED or IN_REVIEW; the assignment is "
                            f"{state_name(assignment.state)}")
    return replace(assignment, assessment=assessment, version=assignment.version + 1, changed_at=now)


def withholds_first_opinion(assignment: Assignment) -> bool:
    """Blind review: the first opinion's diagnosis, treatment and rationale stay out of
    the reviewer's sight until their own assessment is recorded."""
    return assignment.blind_review and assignment.assessment is None


def amended(assignment: Assignment, now: datetime) -> Assignment:
    """The assignment once its signed opinion has a new version (the state stays)."""
    if assignment.state != A.ASSIGNMENT_STATE_OPINION_SUBMITTED:
        raise IllegalAction("an amendment (AmendOpinion, or DecidePriorAuth with amendment_reason) needs state "
                            f"OPINION_SUBMITTED; the assignment is {state_name(assignment.state)}")
    return replace(assignment, stamps={**assignment.stamps, "amended_at": now}, version=assignment.version + 1,
                   changed_at=now)


def withdrawn(assignment: Assignment, now: datetime) -> Assignment | None:
    """The assignment once its case is withdrawn, or None when it is past that (its
    opinion is in, or it was withdrawn before)."""
    if assignment.state not in OPEN:
        return None
    return replace(assignment, state=A.ASSIGNMENT_STATE_WITHDRAWN, stamps={**assignment.stamps, "withdrawn_at": now},
                   version=assignment.version + 1, changed_at=now,
                   sla=sla.stopped(assignment.sla, now) if assignment.sla is not None else None)


def assignments_withdrawn(cause: Event, assignment_ids: list[str]) -> Event:
    return caused_by(cause, events_pb2.AssignmentsWithdrawn(assignment_ids=assignment_ids), producer="review")


def assignment_expired(cause: Event, assignment_id: str, specialist_id: str, taken_back: bool = False) -> Event:
    return caused_by(cause, events_pb2.AssignmentExpired(assignment_id=assignment_id, specialist_id=specialist_id,
                                                         specialist_deactivated=taken_back),
                     producer="review")


def offer_from(event: Event, now: datetime) -> Assignment:
    """The inbox entry a specialist.offered event makes, recorded `now`."""
    offer = event.specialist_offered
    return Assignment(
        assignment_id=offer.assignment_id, case_id=event.case_id, tenant_id=event.tenant_id,
        specialist_id=offer.specialist_id, specialty=offer.specialty, state=A.ASSIGNMENT_STATE_OFFERED,
        diagnosis_code=offer.diagnosis_code, urgency=offer.urgency,
        offered_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc),
        respond_by=offer.respond_by.ToDatetime(tzinfo=timezone.utc), traceparent=event.traceparent,
        changed_at=now, blind_review=offer.blind_review, records=offer.records, panel_size=offer.panel_size,
        adjudicates=offer.adjudicates, panel_opinion_ids=tuple(offer.panel_opinion_ids), kind=offer.kind or 1,
        requested=tuple(Requested(r.key, r.system, r.code, r.quantity, tuple(r.qualified_specialties))
                        for r in offer.requested_services),
        received_at=offer.received_at.ToDatetime(tzinfo=timezone.utc) if offer.HasField("received_at") else None,
    )


def _due(payload, clock: SlaClock | None) -> None:
    due = sla.due_at(clock) if clock is not None else None
    if due is not None:
        payload.sla_due_at.FromDatetime(due)


def sla_event(assignment: Assignment, change: int, now: datetime, reminder: int = 0) -> Event:
    """sla.changed: the clock started late (STARTED), reminded the reviewer, or was breached."""
    clock = assignment.sla
    assert clock is not None
    payload = events_pb2.SlaChanged(assignment_id=assignment.assignment_id, specialist_id=assignment.specialist_id,
                                    change=change, seconds_left=int(sla.seconds_left(clock, now)), reminder=reminder,
                                    urgency=assignment.urgency)
    due = sla.due_at(clock)
    if due is not None:
        payload.due_at.FromDatetime(due)
    return new_event(payload, case_id=assignment.case_id, tenant_id=assignment.tenant_id, producer="review",
                     traceparent=assignment.traceparent, occurred_at=now)


def event_for(assignment: Assignment, action: str, now: datetime, opinion: OpinionRecord | None = None) -> Event:
    """The event the reviewer's action caused, once the assignment has moved."""
    ids = {"assignment_id": assignment.assignment_id, "specialist_id": assignment.specialist_id}
    clock = assignment.sla
    if action == "accept":
        payload = events_pb2.AssignmentAccepted(**ids)
        _due(payload, clock)
    elif action == "start":
        payload = events_pb2.ReviewStarted(**ids)
    elif action == "decline":
        payload = events_pb2.AssignmentDeclined(**ids, reason=assignment.decline_reason)
    elif action == "request_info":
        payload = events_pb2.InfoRequested(**ids, request_id=assignment.info_request_id,
                                           question_count=assignment.info_questions,
                                           sla_seconds_left=int(sla.seconds_left(clock, now)) if clock else 0)
    elif action == "resume":
        payload = events_pb2.ReviewResumed(**ids)
        _due(payload, clock)
    else:
        assert opinion is not None
        payload = conclusions(opinion)
        if assignment.panel_member:  # one view of the panel's: matching concludes the panel
            payload = events_pb2.PanelOpinionSigned(opinion=payload, panel_size=assignment.panel_size)
        elif assignment.adjudicates:
            payload.panel_outcome = events_pb2.PANEL_OUTCOME_ADJUDICATED
            payload.panel_opinion_ids.extend(assignment.panel_opinion_ids)
    return new_event(payload, case_id=assignment.case_id, tenant_id=assignment.tenant_id, producer="review",
                     traceparent=assignment.traceparent, occurred_at=now)


def decision_event(assignment: Assignment, decision_id: str, decisions: list[ItemDecision], now: datetime) -> Event:
    """opinion.submitted for a prior authorization's decision (opinion.amended for an
    amendment: `assignment` as amended, its decisions_made counted): each item's
    action and codes, never the reviewer's texts (intake keeps them, under `decision_id`)."""
    payload = events_pb2.OpinionSubmitted(
        assignment_id=assignment.assignment_id, specialist_id=assignment.specialist_id, opinion_id=decision_id,
        version=assignment.decisions_made, prior_auth_decisions=[
            case_pb2.ItemDecision(item_key=d.key, action=NUMBER_OF[d.action], reason_code=d.reason_code,
                                  approved_quantity=d.approved_quantity, approved_code=d.approved_code)
            for d in decisions])
    if assignment.decisions_made > 1:
        payload = events_pb2.OpinionAmended(opinion=payload)
    return new_event(payload, case_id=assignment.case_id, tenant_id=assignment.tenant_id, producer="review",
                     traceparent=assignment.traceparent, occurred_at=now)


def panel_opinion(cause: Event) -> Event:
    """The case's opinion from the panel's conclusion (panel.concluded): the agreed
    conclusions, or none when the members disagreed and nobody could adjudicate;
    every member's opinion named (each kept here)."""
    concluded = cause.panel_concluded
    agreed = concluded.agreed
    shared = concluded.outcome in (events_pb2.PANEL_OUTCOME_AGREED, events_pb2.PANEL_OUTCOME_ALONE)
    diagnosis, treatment, code = (agreed.diagnosis, agreed.treatment, agreed.reviewer_diagnosis_code) if shared \
        else (0, 0, "")
    payload = events_pb2.OpinionSubmitted(
        opinion_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"secondlook:panel:{cause.case_id}")),
        diagnosis=diagnosis, treatment=treatment, reviewer_diagnosis_code=code,
        diagnosis_concordance=BACK_DIAGNOSIS.get(diagnosis, 0),
        treatment_concordance=BACK_TREATMENT.get(treatment, 0), version=1, panel_outcome=concluded.outcome,
        panel_opinion_ids=list(concluded.opinion_ids))
    return caused_by(cause, payload, producer="review")

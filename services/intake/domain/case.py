"""A case as intake keeps it: the system of record, with its status projection
and timeline. Built and moved on here; stored by the repository."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from secondlook.events import Event, new_event
from secondlook.v1 import case_pb2, events_pb2, intake_pb2
from secondlook.validation import enum_problem

from .content import Attachment, CaseContent
from .lifecycle import (
    ACCEPTED_STAGES,
    FINAL,
    REDRIVE_REPUBLISH,
    SYSTEM_STAGES,
    WITHDRAWABLE,
    TimelineEntry,
    Transition,
    apply_event,
    status_name,
)
from .priorauth import Decision, RequestedService
from .submission import ValidSubmission

S = case_pb2.CaseStatus


@dataclass(frozen=True)
class InfoRequest:
    """A reviewer's questions (PHI: kept sealed with the case, never in events)."""

    request_id: str
    specialist_id: str
    questions: tuple[str, ...]
    requested_at: datetime


@dataclass(frozen=True)
class Case:
    case_id: str
    tenant_id: str
    client_request_id: str
    request_sha256: str
    submitted_by: str
    status: int
    diagnosis_code: str  # the primary diagnosis, ICD-10-CM
    urgency: int
    jurisdiction: str
    language: str  # the patient's preferred language
    traceparent: str
    submitted_at: datetime
    updated_at: datetime
    timeline: tuple[TimelineEntry, ...]
    seen_event_ids: frozenset[str]
    redrives: int = 0
    next_redrive_at: datetime | None = None
    specialist_id: str = ""
    kind: int = case_pb2.CASE_KIND_SECOND_OPINION
    panel_requested: bool = False
    blind_review_requested: bool = False
    # Set once withdrawn (the note, PHI, is kept with the content).
    withdrawal_reason: int = case_pb2.WITHDRAWAL_REASON_UNSPECIFIED
    withdrawn_at: datetime | None = None
    withdrawn_by: str = ""
    # What the case says (content.py), PHI but for codes and organisations; None
    # when the case was read for bookkeeping only (the projection, the sweeper).
    content: CaseContent | None = None
    # The reviewer's requests for more information; read with the content.
    info_requests: tuple[InfoRequest, ...] = ()
    # A PRIOR_AUTH case's decisions as review asked to keep them: the one opinion.submitted
    # confirms is the decision (one whose move in review never committed is never shown).
    prior_auth_decisions: tuple[Decision, ...] = ()
    # Who assigned client_request_id (a FHIR Identifier.system), "" when nobody said:
    # the idempotency key is (tenant, client_request_system, client_request_id).
    client_request_system: str = ""
    # What the case keeps of its content as validated (keyed, as request_sha256): a
    # repeat of the key spelled otherwise is known by it. "" for cases from before.
    request_content_sha256: str = ""


def confirmed_requests(case: Case) -> set[str]:
    """The requests review confirmed (its info.requested is on the timeline): a request
    kept here whose move in review never committed is never shown, nor answered."""
    return {e.ref for e in case.timeline if e.event_type == "info.requested" and e.ref}


def _answered(case: Case) -> dict[str, datetime]:
    answered: dict[str, datetime] = {}
    for e in case.timeline:
        if e.event_type == "documents.added" and e.ref:
            for request_id in e.ref.split(","):
                answered.setdefault(request_id, e.recorded_at)
    return answered


def answered_at(case: Case, request: InfoRequest) -> datetime | None:
    """When the submitter answered the request: the records added while it was open."""
    return _answered(case).get(request.request_id)


def open_requests(case: Case) -> list[str]:
    return sorted(confirmed_requests(case) - set(_answered(case)))


def next_redrive_at(status: int, now: datetime, stuck_after: float) -> datetime | None:
    """Only a stage the system owns is watched by the sweeper."""
    return now + timedelta(seconds=stuck_after) if status in SYSTEM_STAGES else None


def new_case(valid: ValidSubmission, *, case_id: str, tenant_id: str, submitted_by: str, traceparent: str,
             now: datetime, stuck_after: float, request_digest: str = "", content_digest: str = "",
             ) -> tuple[Case, Event]:
    """A validated submission becomes a SUBMITTED case and its case.submitted event
    (routing facts only: codes, flags and the first opinion's NPIs and organisation
    for conflict screening; no name, date, contact, identifier or text). `request_digest`:
    what the case keeps of its request's content (keyed by the adapter), else the fingerprint;
    `content_digest`: of its content as validated, likewise (ValidSubmission.content_fingerprint)."""
    first = valid.first_opinion
    event = new_event(
        events_pb2.CaseSubmitted(
            diagnosis_code=valid.diagnosis.code, urgency=valid.urgency, jurisdiction=valid.jurisdiction,
            language=valid.language, kind=valid.kind,
            secondary_diagnosis_codes=[d.code for d in valid.secondary_diagnoses],
            panel_requested=valid.panel_requested, blind_review_requested=valid.blind_review_requested,
            first_opinion_physician_npi=first.physician_npi, first_opinion_organization=first.organization_name,
            first_opinion_organization_npi=first.organization_npi, attachment_count=len(valid.attachments),
            requested_services=[requested_service(i) for i in valid.prior_auth.items] if valid.prior_auth else [],
        ),
        case_id=case_id, tenant_id=tenant_id, producer="intake", traceparent=traceparent, occurred_at=now,
    )
    step = apply_event(case_pb2.CASE_STATUS_UNSPECIFIED, set(), event_type=event.type, event_id=event.event_id,
                       producer="intake", occurred_at=now, now=now)
    case = Case(
        case_id=case_id, tenant_id=tenant_id, client_request_id=valid.client_request_id,
        client_request_system=valid.client_request_system, request_sha256=request_digest or valid.fingerprint,
        request_content_sha256=content_digest or valid.content_fingerprint, submitted_by=submitted_by, status=step.status,
        diagnosis_code=valid.diagnosis.code, urgency=valid.urgency, jurisdiction=valid.jurisdiction,
        language=valid.language,
        content=CaseContent(patient=valid.patient, diagnosis_text=valid.diagnosis.text,
                            secondary_diagnoses=valid.secondary_diagnoses, first_opinion=first,
                            clinical_question=valid.clinical_question, attachments=valid.attachments,
                            consent=valid.consent, prior_auth=valid.prior_auth),
        kind=valid.kind, panel_requested=valid.panel_requested, blind_review_requested=valid.blind_review_requested,
        traceparent=traceparent, submitted_at=now, updated_at=now, timeline=(step.entry,),
        seen_event_ids=frozenset({event.event_id}), next_redrive_at=next_redrive_at(step.status, now, stuck_after),
    )
    return case, event


def requested_service(item: RequestedService) -> case_pb2.RequestedService:
    return case_pb2.RequestedService(key=item.key, sequence=item.sequence, system=item.system, code=item.code,
                                     quantity=item.quantity, unit=item.unit)


MAX_DETAIL = 1000  # characters of an event's reason kept on the timeline


def _when(ts) -> str:
    return ts.ToDatetime(tzinfo=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: int) -> str:
    """3d 4h, 5h 20m, 45s: a duration as a person reads it."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def detail_of(event: Event) -> str:
    """What the timeline says beside the stage (routing terms only, no PHI)."""
    if event.HasField("case_unmatched"):
        return event.case_unmatched.reason
    if event.HasField("case_waiting"):
        until = event.case_waiting.wait_until.ToDatetime(tzinfo=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{event.case_waiting.reason}; offered as soon as slots come free, else unmatched at {until}"
    if event.HasField("assignment_declined"):
        code = event.assignment_declined.reason
        known = code in case_pb2.DeclineReason.values()  # a newer review may send a code this intake lacks
        reason = case_pb2.DeclineReason.Name(code).removeprefix("DECLINE_REASON_") if known else f"code {code}"
        return f"the offer was declined ({reason.lower().replace('_', ' ')}): matching looks for another reviewer"
    if event.HasField("opinion_amended"):
        return f"the opinion was amended: version {event.opinion_amended.opinion.version}"
    if event.HasField("assignment_expired"):
        if event.assignment_expired.specialist_deactivated:
            return "the offer was taken back (the specialist was deactivated): matching looks for another reviewer"
        return "the offer expired unanswered: matching looks for another reviewer"
    if event.HasField("assignment_accepted") and event.assignment_accepted.HasField("sla_due_at"):
        return f"the review's SLA clock started: due {_when(event.assignment_accepted.sla_due_at)}"
    if event.HasField("info_requested"):
        asked = event.info_requested
        n = asked.question_count
        text = f"the reviewer asked {n} question{'s' if n != 1 else ''} (GetCase): answer with AddDocuments"
        return text + (f"; the SLA clock pauses with {_span(asked.sla_seconds_left)} left" if asked.sla_seconds_left
                       else "")
    if event.HasField("review_resumed"):
        resumed = event.review_resumed
        return "the reviewer has the records added: the review goes on" + (
            f"; the SLA clock runs again, due {_when(resumed.sla_due_at)}" if resumed.HasField("sla_due_at") else "")
    if event.HasField("panel_opinion_signed"):
        return f"a member of the panel of {event.panel_opinion_signed.panel_size} signed their opinion"
    if event.HasField("panel_concluded"):
        outcome = event.panel_concluded.outcome
        n = len(event.panel_concluded.opinion_ids)
        if outcome == events_pb2.PANEL_OUTCOME_AGREED:
            return f"the panel's {n} reviewers agreed"
        if outcome == events_pb2.PANEL_OUTCOME_ALONE:
            return "the panel went short to one reviewer: their opinion is the panel's"
        return f"the panel's {n} reviewers disagreed and no adjudicator could be found: their views are the opinion"
    if event.HasField("opinion_submitted") and event.opinion_submitted.panel_outcome:
        outcome = events_pb2.PanelOutcome.Name(event.opinion_submitted.panel_outcome).removeprefix("PANEL_OUTCOME_")
        return f"the panel's opinion ({outcome.lower()}, {len(event.opinion_submitted.panel_opinion_ids)} members' views)"
    if event.HasField("specialist_offered") and event.specialist_offered.adjudicates:
        return "the panel disagreed: an adjudicator is offered the case"
    if event.HasField("sla_changed"):
        c = event.sla_changed
        due = f"due {_when(c.due_at)}" if c.HasField("due_at") else ""
        if c.change == events_pb2.SLA_CHANGE_STARTED:
            return f"the case's first records arrived: the review's SLA clock started, {due}"
        if c.change == events_pb2.SLA_CHANGE_REMINDER:
            return f"SLA reminder {c.reminder} sent to the reviewer: {_span(c.seconds_left)} left, {due}"
        if c.change == events_pb2.SLA_CHANGE_BREACHED:
            return "SLA breached: the review is overdue; escalated to operations"
        return f"the review's SLA clock changed (code {c.change})"
    return ""


def project(case: Case, event: Event, now: datetime, stuck_after: float) -> tuple[Case, Transition]:
    """The case after a downstream stage event (IllegalTransition when the lifecycle forbids it)."""
    step = apply_event(
        case.status, set(case.seen_event_ids), event_type=event.type, event_id=event.event_id,
        producer=event.producer, occurred_at=event.occurred_at.ToDatetime(tzinfo=timezone.utc), now=now,
    )
    if step.entry is None:
        return case, step
    if event.HasField("review_resumed") and step.status_changed and open_requests(case):
        # One reviewer goes on, another still waits on records (a panel): the case stays NEEDS_INFO.
        step = dataclasses.replace(step, status=case.status, status_changed=False,
                                   entry=dataclasses.replace(step.entry, status=case.status))
    detail = detail_of(event)
    if detail:
        step = dataclasses.replace(step, entry=dataclasses.replace(step.entry, detail=detail[:MAX_DETAIL]))
    changes: dict = {"timeline": (*case.timeline, step.entry), "seen_event_ids": case.seen_event_ids | {event.event_id}}
    if step.status_changed:
        changes.update(status=step.status, updated_at=now, redrives=0,
                       next_redrive_at=next_redrive_at(step.status, now, stuck_after))
    if event.HasField("case_waiting") and changes.get("status", case.status) in SYSTEM_STAGES:
        # Waiting for a free slot is not stuck: the sweeper looks again only once it should be over.
        until = event.case_waiting.wait_until.ToDatetime(tzinfo=timezone.utc)
        changes.update(redrives=0, next_redrive_at=until + timedelta(seconds=stuck_after))
    # The specialist named is the one offered it until someone accepts, then the one who
    # accepted (a panel's replacement seats and adjudicators never replace them).
    accepted = case.status in ACCEPTED_STAGES
    if event.HasField("specialist_offered") and not accepted:
        changes["specialist_id"] = event.specialist_offered.specialist_id
    elif event.HasField("assignment_accepted") and event.assignment_accepted.specialist_id and not accepted:
        changes["specialist_id"] = event.assignment_accepted.specialist_id
    elif not accepted:  # a declined or expired offer's specialist no longer has the case
        gone = (event.assignment_declined.specialist_id if event.HasField("assignment_declined")
                else event.assignment_expired.specialist_id if event.HasField("assignment_expired") else "")
        if gone and case.specialist_id == gone:
            changes["specialist_id"] = ""
    if event.HasField("info_requested"):  # the request is confirmed: the submitter sees it
        changes["timeline"] = (*case.timeline, dataclasses.replace(step.entry, ref=event.info_requested.request_id))
    announced = event.opinion_submitted if event.HasField("opinion_submitted") else \
        event.opinion_amended.opinion if event.HasField("opinion_amended") else None
    if announced is not None and announced.prior_auth_decisions:
        # The decision kept with the case is confirmed: the submitter and $inquire see it.
        changes["timeline"] = (*case.timeline, dataclasses.replace(step.entry, ref=announced.opinion_id))
    return dataclasses.replace(case, **changes), step


def projected_fields(before: Case, after: Case) -> dict:
    """The fields a projection sets on the stored case (besides appending to its
    timeline): with a status change, all of the stage's bookkeeping, so that a
    redrive recorded since `before` was read is reset with it; the specialist
    when it changed."""
    fields = {}
    if after.status != before.status:
        fields.update({f: getattr(after, f) for f in ("status", "updated_at", "redrives", "next_redrive_at")})
    elif after.next_redrive_at != before.next_redrive_at:  # a case waiting for a free slot (case.waiting)
        fields.update(redrives=after.redrives, next_redrive_at=after.next_redrive_at)
    if after.specialist_id != before.specialist_id:
        fields["specialist_id"] = after.specialist_id
    return fields


def redrive(case: Case, now: datetime, stuck_after: float, max_doublings: int = 6) -> tuple[Case, Event]:
    """The case re-driven from a stage the system owns: its next redrive waits twice as long."""
    doublings = min(case.redrives + 1, max_doublings)
    moved = dataclasses.replace(case, redrives=case.redrives + 1,
                                next_redrive_at=now + timedelta(seconds=stuck_after * 2**doublings))
    event = new_event(
        events_pb2.RedriveRequested(stuck_in=case.status, stuck_for_seconds=int((now - case.updated_at).total_seconds()),
                                    republish_types=REDRIVE_REPUBLISH[case.status]),
        case_id=case.case_id, tenant_id=case.tenant_id, producer="intake", traceparent=case.traceparent,
    )
    return moved, event


class NotWithdrawable(Exception):
    """The case is past the point where it can be withdrawn."""


MAX_WITHDRAWAL_NOTE_CHARS = 1000


def withdrawal_violations(reason: int, note: str) -> list[tuple[str, str]]:
    violations = []
    if problem := enum_problem(case_pb2.WithdrawalReason, reason, "WITHDRAWAL_REASON_"):
        violations.append(("reason", problem))
    if len(note) > MAX_WITHDRAWAL_NOTE_CHARS:
        violations.append(("note", f"must be at most {MAX_WITHDRAWAL_NOTE_CHARS} characters"))
    return violations


def withdraw(case: Case, reason: int, by: str, now: datetime) -> tuple[Case, Event]:
    """The case withdrawn, and the case.withdrawn event that asks the services
    downstream to release what they hold for it (the reason code only: no note)."""
    if case.status not in WITHDRAWABLE:
        raise NotWithdrawable(f"the case is {status_name(case.status)}: only a case not yet delivered "
                              "can be withdrawn")
    event = new_event(events_pb2.CaseWithdrawn(reason=reason), case_id=case.case_id, tenant_id=case.tenant_id,
                      producer="intake", traceparent=case.traceparent, occurred_at=now)
    step = apply_event(case.status, set(case.seen_event_ids), event_type=event.type, event_id=event.event_id,
                       producer="intake", occurred_at=now, now=now)
    moved = dataclasses.replace(
        case, status=step.status, updated_at=now, timeline=(*case.timeline, step.entry),
        seen_event_ids=case.seen_event_ids | {event.event_id}, next_redrive_at=None, redrives=0,
        withdrawal_reason=reason, withdrawn_at=now, withdrawn_by=by,
    )
    return moved, event


class ClosedToDocuments(Exception):
    """The case's review is over (or it was withdrawn): records can no longer be added."""


class TooManyAttachments(Exception):
    """The case would hold more records than a case may."""


def add_documents(case: Case, existing: tuple[Attachment, ...], new: tuple[Attachment, ...], now: datetime,
                  limit: int) -> tuple[Case, Event, tuple[Attachment, ...]] | None:
    """The case with the records it did not have (same URI and SHA-256: the same
    record), its documents.added event and every record it now holds; None when
    every one was there already. The records answer every request of the reviewers
    still open (a case waiting on them, NEEDS_INFO, goes back to IN_REVIEW); a
    reviewer's open request keeps even a delivered case open to them."""
    answers = open_requests(case)
    if case.status not in WITHDRAWABLE and not (answers and case.status not in FINAL):
        raise ClosedToDocuments(f"the case is {status_name(case.status)}: records can be added to an open case only")
    held = {(a.uri, a.sha256) for a in existing}
    fresh = []
    for a in new:
        if (a.uri, a.sha256) not in held:
            held.add((a.uri, a.sha256))
            fresh.append(a)
    if not fresh:
        return None
    if len(existing) + len(fresh) > limit:
        raise TooManyAttachments(f"a case holds at most {limit} records; this one has {len(existing)}")
    event = new_event(events_pb2.DocumentsAdded(count=len(fresh), answers=answers), case_id=case.case_id,
                      tenant_id=case.tenant_id, producer="intake", traceparent=case.traceparent, occurred_at=now)
    # On the timeline at the case's status: an addition moves nothing, but for the
    # answer to a reviewer's request (NEEDS_INFO -> IN_REVIEW; review resumes on it).
    resumes = case.status == S.CASE_STATUS_NEEDS_INFO
    status = S.CASE_STATUS_IN_REVIEW if resumes else case.status
    entry = TimelineEntry(status, event.type, event.event_id, "intake", now, now, ref=",".join(answers),
                          detail=f"answers {len(answers)} request{'s' if len(answers) > 1 else ''} of the reviewer"
                          if answers else "")
    moved = dataclasses.replace(case, timeline=(*case.timeline, entry), seen_event_ids=case.seen_event_ids | {event.event_id},
                                **({"status": status, "updated_at": now} if resumes else {}))
    return moved, event, (*existing, *fresh)


class NotAskable(Exception):
    """The case is closed to questions (withdrawn, closed, delivered)."""


def info_request_added(case: Case, request: InfoRequest) -> Case | None:
    """The case keeping the reviewer's request; None when it has it already (a retry)."""
    if case.status not in WITHDRAWABLE or case.status == S.CASE_STATUS_UNMATCHED:
        raise NotAskable(f"the case is {status_name(case.status)}: questions are for a case under review")
    if any(r.request_id == request.request_id for r in case.info_requests):
        return None
    return dataclasses.replace(case, info_requests=(*case.info_requests, request))


class NotDecidable(Exception):
    """The case takes no (further) prior-authorization decision."""


MAX_KEPT_DECISIONS = 10  # decisions kept unconfirmed since the last one announced (a reviewer's retries)
MAX_DECISIONS = 100  # kept in all, announced or not: the case document's bound


DECIDABLE = (WITHDRAWABLE - {S.CASE_STATUS_UNMATCHED}) | {S.CASE_STATUS_DELIVERED}


def decision_added(case: Case, decision: Decision) -> Case | None:
    """The case keeping the reviewer's decision (or an amendment of the one made, which
    review allows only with a reason); None when it has this one already (a retry)."""
    if case.kind != case_pb2.CASE_KIND_PRIOR_AUTH:
        raise NotDecidable("the case is not a prior authorization")
    if any(d.decision_id == decision.decision_id for d in case.prior_auth_decisions):
        return None
    if case.status not in DECIDABLE:
        raise NotDecidable(f"the case is {status_name(case.status)}: a decision is for a request under review "
                           "(or an amendment of one decided)")
    if confirmed_decision(case) is not None and not decision.amendment_reason:
        raise NotDecidable("the request is decided already: a new decision amends it, with a reason")
    # Kept but never announced: sent by a call whose move in review then lost a race. One
    # kept before the last announced can never be announced (review names the next
    # decision after the count of those made), so only those since count.
    announced = {d.decision_id for d in confirmed_decisions(case)}
    last = max((i for i, d in enumerate(case.prior_auth_decisions) if d.decision_id in announced), default=-1)
    if sum(d.decision_id not in announced for d in case.prior_auth_decisions[last + 1:]) >= MAX_KEPT_DECISIONS:
        raise NotDecidable("too many decisions were sent for this request without one being made")
    if len(case.prior_auth_decisions) >= MAX_DECISIONS:
        raise NotDecidable(f"the request has {MAX_DECISIONS} decisions kept, the most one keeps: operations can "
                           "correct it further")
    return dataclasses.replace(case, prior_auth_decisions=(*case.prior_auth_decisions, decision))


ANNOUNCING = ("opinion.submitted", "opinion.amended")  # the events that announce a decision


def confirmed_decisions(case: Case) -> list[Decision]:
    """The decisions review announced (opinion.submitted, then any opinion.amended on
    the timeline), in the order announced: the last is the decision that stands."""
    kept = {d.decision_id: d for d in case.prior_auth_decisions}
    return [kept[e.ref] for e in sorted(case.timeline, key=lambda e: e.occurred_at)
            if e.event_type in ANNOUNCING and e.ref in kept]


def confirmed_decision(case: Case) -> Decision | None:
    """The decision that stands: the last review announced."""
    found = confirmed_decisions(case)
    return found[-1] if found else None


def open_questions(case: Case) -> list[str]:
    """What the reviewer asks and waits on, as a prior authorization's answer shows it:
    the questions of the confirmed requests not yet answered, while no decision stands
    and the request was not withdrawn."""
    if confirmed_decision(case) is not None or case.withdrawn_at is not None:
        return []
    still_open = set(open_requests(case))
    return [q for r in case.info_requests if r.request_id in still_open for q in r.questions]


def parts_shown(case: Case) -> tuple[str, ...]:
    """The parts a whole read of the case (GetCase, a full list, a submission's answer)
    shows, as the access audit names them: those the case holds, no more (a payer's
    prior authorization has no consent, question or attachments), no fewer (the
    reviewer's requests and the decision once confirmed)."""
    c = case.content
    if c is None:
        return ()
    first = c.first_opinion
    held = {
        "patient": True,
        "diagnoses": True,
        "first_opinion": bool(first.physician_npi or first.physician_family_name or first.physician_given_name
                              or first.organization_name or first.organization_npi or first.treatment_codes
                              or first.treatment_text or first.rationale),
        "clinical_question": bool(c.clinical_question),
        "attachments": bool(c.attachments),
        "consent": c.consent.scope != intake_pb2.CONSENT_SCOPE_UNSPECIFIED,
        "withdrawal": case.withdrawn_at is not None,
        "info_requests": any(r.request_id in confirmed_requests(case) for r in case.info_requests),
        "prior_auth": c.prior_auth is not None,
        "prior_auth_decision": confirmed_decision(case) is not None,
    }
    return tuple(part for part, shown in held.items() if shown)

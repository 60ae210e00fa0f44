"""review's gRPC entry point: the reviewer's inbox and the opinion, mapped to use cases."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone

import grpc

from secondlook import paging
from secondlook.audit import AuditTrail
from secondlook.auth import Principal, TokenExpired, require_role, while_token_valid
from secondlook.clock import Clock
from secondlook.errors import field_violations
from secondlook.feed import FellBehind
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact
from secondlook.v1 import review_pb2, review_pb2_grpc
from secondlook.v1.case_pb2 import Urgency
from secondlook.validation import question_violations

from . import reference, usecases
from .cases import CaseUnavailable, DecisionContended, DecisionRefused
from .domain import sla
from .domain.assignment import (
    Assignment,
    IllegalAction,
    validate_decline,
    withholds_first_opinion,
)
from .domain.inbox import InboxPage
from .domain.opinion import assessment_message, opinion_message
from .domain.priorauth import ACTION_OF, ItemDecision
from .domain.sla import SlaRules

log = get_logger(__name__)

# A resumed stream starts this long before its position: a change committed by
# another replica (its own clock) or late in a slow commit is not skipped.
RESUME_OVERLAP = timedelta(seconds=5)


def position_of(a: Assignment) -> str:
    """Opaque to clients: when the change was made, and which change it was."""
    assert a.changed_at is not None
    millis = int(a.changed_at.timestamp() * 1000)
    return base64.urlsafe_b64encode(f"1:{millis}:{a.version}:{a.assignment_id}".encode()).decode().rstrip("=")


def resume_time(position: str) -> datetime:
    """Where a stream resumed from `position` starts reading; ValueError if the
    position is not one this service gave out."""
    try:
        text = base64.urlsafe_b64decode(position + "=" * (-len(position) % 4)).decode()
        fmt, millis, _, _ = text.split(":", 3)
        if fmt != "1":
            raise ValueError(fmt)
        return datetime.fromtimestamp(int(millis) / 1000, tz=timezone.utc) - RESUME_OVERLAP
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):  # year 1, say: no overlap
        raise ValueError("not a position this service gave out") from None


DEFAULT_PAGE, MAX_PAGE = 100, 500


def _inbox_filters(specialist_id: str, states: tuple[int, ...], urgency: int) -> list:
    return [specialist_id, sorted(states), urgency]


def _inbox_after(token: str, filters: list) -> tuple[datetime, str] | None:
    """Where a ListAssignments page token says to continue; None if it is not one given for these filters."""
    position = paging.read_page_token(token, "ListAssignments", filters)
    try:
        millis, assignment_id = position
        if not isinstance(millis, int) or not isinstance(assignment_id, str) or not assignment_id:
            return None
        return datetime.fromtimestamp(millis / 1000, tz=timezone.utc), assignment_id
    except (TypeError, ValueError, OverflowError, OSError):
        return None


SLA_STATES = {sla.RUNNING: review_pb2.SLA_STATE_RUNNING, sla.PAUSED: review_pb2.SLA_STATE_PAUSED,
              sla.STOPPED: review_pb2.SLA_STATE_STOPPED}
HOLDING = (review_pb2.ASSIGNMENT_STATE_ACCEPTED, review_pb2.ASSIGNMENT_STATE_IN_REVIEW,
           review_pb2.ASSIGNMENT_STATE_NEEDS_INFO)


def _sla_status(a: Assignment, now: datetime) -> review_pb2.SlaStatus | None:
    """The clock as the reviewer sees it now: the time left, and when it runs out."""
    c = a.sla
    if c is None:  # an offer has none; an accepted case without records waits for its first
        return review_pb2.SlaStatus(state=review_pb2.SLA_STATE_NOT_STARTED) if a.state in HOLDING else None
    status = review_pb2.SlaStatus(state=SLA_STATES[c.state], seconds_left=int(sla.seconds_left(c, now)),
                                  budget_seconds=c.budget_seconds, reminders_sent=c.reminders_sent,
                                  breached=c.breached_at is not None)
    due = sla.due_at(c)
    if due is not None:
        status.due_at.FromDatetime(due)
    return status


def _message(a: Assignment, now: datetime) -> review_pb2.Assignment:
    msg = review_pb2.Assignment(
        assignment_id=a.assignment_id, case_id=a.case_id, specialist_id=a.specialist_id, specialty=a.specialty,
        state=a.state, diagnosis_code=a.diagnosis_code, urgency=a.urgency, decline_reason=a.decline_reason,
        blind_review=a.blind_review, panel_size=a.panel_size, adjudicates=a.adjudicates,
    )
    msg.offered_at.FromDatetime(a.offered_at)
    msg.respond_by.FromDatetime(a.respond_by)
    status = _sla_status(a, now)
    if status is not None:
        msg.sla.CopyFrom(status)
    return msg


MAX_ASSIGNMENT_ID = 200  # an assignment's id is a UUID; a longer one is none, and is not looked up


def _assignment_id_problems(assignment_id: str) -> list[tuple[str, str]]:
    if not assignment_id:
        return [("assignment_id", "is required")]
    if len(assignment_id) > MAX_ASSIGNMENT_ID:
        return [("assignment_id", f"must be at most {MAX_ASSIGNMENT_ID} characters")]
    return []


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def __init__(self, transact: Transact, inbox: usecases.InboxQuery, feed: usecases.Feed, clock: Clock,
                 cases: usecases.CaseSource, sla_rules: SlaRules, audit: AuditTrail,
                 fingerprint: usecases.Fingerprint):
        self._transact = transact
        self._fingerprint = fingerprint
        self._audit = audit
        self._sla_rules = sla_rules
        self._inbox = inbox
        self._cases = cases
        self._feed = feed
        self._clock = clock

    async def _reviewer(self, context) -> Principal:
        principal = await require_role(context, "reviewer")
        if not principal.specialist_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "token has no specialist_id claim")
        return principal

    async def ListAssignments(self, request, context):
        principal = await self._reviewer(context)
        problems, after = [], None
        if not 0 <= request.page_size <= MAX_PAGE:
            problems.append(("page_size", f"must be between 1 and {MAX_PAGE} (0: {DEFAULT_PAGE})"))
        states = tuple(dict.fromkeys(request.states))  # each once
        for i, state in enumerate(request.states):
            if state not in review_pb2.AssignmentState.values() or state == 0:
                problems.append((f"states[{i}]", "is not an assignment state"))
                break
        if request.urgency not in Urgency.values():
            problems.append(("urgency", "is not STANDARD or EXPEDITED"))
        filters = _inbox_filters(principal.specialist_id, states, request.urgency)
        if request.page_token:
            after = _inbox_after(request.page_token, filters)
            if after is None:
                problems.append(("page_token", "is not a page token ListAssignments gave for these filters"))
        if problems:
            await context.abort_with_status(field_violations(*problems))
        query = InboxPage(states=states, urgency=request.urgency, after=after)
        found, more = await usecases.list_assignments(self._inbox, principal.specialist_id, query,
                                                      request.page_size or DEFAULT_PAGE)
        return review_pb2.ListAssignmentsResponse(assignments=[_message(a, self._clock.now()) for a in found],
                                                  next_page_token=paging.page_token(
                                                      "ListAssignments", filters,
                                                      [int(more[0].timestamp() * 1000), more[1]]) if more else "")

    async def GetAssignment(self, request, context):
        principal = await self._reviewer(context)
        if problems := _assignment_id_problems(request.assignment_id):
            await context.abort_with_status(field_violations(*problems))
        try:
            found = await usecases.assignment_detail(self._inbox, self._cases, self._audit, self._clock, principal,
                                                     request.assignment_id)
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"assignment_id: no assignment {request.assignment_id[:64]!r}")
        except CaseUnavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the case cannot be read now (intake did not answer): "
                                                             "try again")
        assignment, case = found.assignment, found.case
        detail = review_pb2.AssignmentDetail(assignment=_message(assignment, self._clock.now()),
                                             blind_review=assignment.blind_review)
        if assignment.assessment is not None:
            detail.independent_assessment.CopyFrom(assessment_message(assignment.assessment))
        for o in found.opinions:
            version = detail.opinions.add(version=o.version, opinion_id=o.opinion_id, opinion=opinion_message(o),
                                          amendment_reason=o.amendment_reason)
            version.signed_at.FromDatetime(o.submitted_at)
            version.blind = o.blind
            if o.assessment is not None:
                version.independent_assessment.CopyFrom(assessment_message(o.assessment))
        for o in found.panel:
            member = detail.panel_opinions.add(specialist_id=o.specialist_id)
            member.opinion.CopyFrom(review_pb2.OpinionVersion(
                version=o.version, opinion_id=o.opinion_id, opinion=opinion_message(o),
                amendment_reason=o.amendment_reason, blind=o.blind))
            member.opinion.signed_at.FromDatetime(o.submitted_at)
        if case is not None:
            detail.case.CopyFrom(case)
            if withholds_first_opinion(assignment):  # blind: the reviewer's own assessment comes first
                for name in ("diagnosis", "proposed_treatment", "rationale"):
                    detail.case.first_opinion.ClearField(name)
                detail.first_opinion_withheld = True
            with bound_contextvars(case_id=assignment.case_id):
                log.info("case_read_for_review", assignment_id=assignment.assignment_id)
        return detail

    async def WatchAssignments(self, request, context):
        principal = await self._reviewer(context)
        since = None
        if request.resume_after:
            try:
                since = resume_time(request.resume_after)
            except ValueError as exc:
                await context.abort_with_status(field_violations(("resume_after", str(exc))))
        changes = usecases.watch_assignments(self._inbox, self._feed, principal.specialist_id, since)
        try:
            async for a in while_token_valid(changes, principal):
                yield review_pb2.AssignmentChange(assignment=_message(a, self._clock.now()), version=a.version,
                                                  position=position_of(a))
        except TokenExpired:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "the token expired: resume from the last position "
                                                                 "received with a fresh one")
        except usecases.TooFarBehind as exc:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                f"resume_after: {exc.args[0]} or more changes since this position; "
                                "watch without one (the open inbox) instead")
        except FellBehind:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "the stream fell behind its changes: resume from the last position received")
        finally:
            await changes.aclose()

    async def _run(self, context, assignment_id: str, action: str, command) -> review_pb2.Assignment:
        """`command` for the calling reviewer (their specialist id, and as the author of
        what they write: usecases.Author)."""
        principal = await self._reviewer(context)
        if problems := _assignment_id_problems(assignment_id):
            await context.abort_with_status(field_violations(*problems))
        try:
            moved = await command(principal.specialist_id, usecases.Author(principal, self._audit))
        except (usecases.InvalidOpinion, usecases.InvalidDecline, usecases.InvalidQuestions,
                usecases.InvalidDecision) as exc:
            await context.abort_with_status(field_violations(*exc.violations))
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"assignment_id: no assignment {assignment_id[:64]!r}")
        except IllegalAction as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except usecases.Superseded:
            await context.abort(grpc.StatusCode.ABORTED, "the assignment changed while this call ran; read it again")
        except DecisionContended:
            await context.abort(grpc.StatusCode.ABORTED, "intake was keeping another decision for this case at the "
                                                         "same moment: nothing was decided; try again")
        except DecisionRefused as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"intake did not keep the decision: {exc}")
        except usecases.CaseClosed:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the case is withdrawn or closed: nothing to ask")
        except CaseUnavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "intake did not answer: nothing was asked; try again")
        except usecases.NotRecorded:
            await context.abort(grpc.StatusCode.INTERNAL, "the change was made and stands, but the access audit "
                                                          "did not record it (operations are told): do not send "
                                                          "it again; read the assignment")
        with bound_contextvars(case_id=moved.case_id):
            log.info("assignment_" + action, assignment_id=assignment_id)
        return _message(moved, self._clock.now())

    async def AcceptAssignment(self, request, context):
        return await self._run(context, request.assignment_id, "accept", lambda sid, _: usecases.accept_assignment(
            self._transact, self._feed, self._clock, sid, request.assignment_id, self._sla_rules))

    async def DeclineAssignment(self, request, context):
        await self._reviewer(context)
        problems = validate_decline(request.reason, request.note)
        if problems:  # every problem at once, the missing id among them
            await context.abort_with_status(field_violations(*_assignment_id_problems(request.assignment_id),
                                                             *problems))
        return await self._run(context, request.assignment_id, "decline", lambda sid, author: (
            usecases.decline_assignment(self._transact, self._feed, self._clock, sid, request.assignment_id,
                                        request.reason, request.note, author)))

    async def RequestMoreInfo(self, request, context):
        await self._reviewer(context)
        problems = question_violations([q.strip() for q in request.questions])
        if problems:  # every problem at once, the missing id among them
            missing = [("assignment_id", "is required")] if not request.assignment_id else []
            await context.abort_with_status(field_violations(*missing, *problems))
        return await self._run(context, request.assignment_id, "request_info",
                               lambda sid, _: usecases.request_more_info(
                                   self._transact, self._inbox, self._cases, self._feed, self._clock, sid,
                                   request.assignment_id, list(request.questions), fingerprint=self._fingerprint))

    async def StartReview(self, request, context):
        return await self._run(context, request.assignment_id, "start", lambda sid, _: usecases.start_review(
            self._transact, self._feed, self._clock, sid, request.assignment_id))

    async def RecordIndependentAssessment(self, request, context):
        assessment = request.assessment if request.HasField("assessment") else None
        return await self._run(context, request.assignment_id, "record_assessment",
                               lambda sid, author: usecases.record_assessment(
                                   self._transact, self._feed, self._clock, sid, request.assignment_id, assessment,
                                   author))

    async def AmendOpinion(self, request, context):
        opinion = request.opinion if request.HasField("opinion") else None
        return await self._run(context, request.assignment_id, "amend_opinion",
                               lambda sid, author: usecases.amend_opinion(
                                   self._transact, self._feed, self._clock, sid, request.assignment_id, opinion,
                                   request.reason, request.amends_version, author))

    async def DecidePriorAuth(self, request, context):
        decisions = [ItemDecision(key=d.item_key, action=ACTION_OF.get(d.action, ""), reason_code=d.reason_code,
                                  provider_text=d.provider_text.strip(), patient_text=d.patient_text.strip(),
                                  approved_quantity=d.approved_quantity, approved_code=d.approved_code.strip())
                     for d in request.decisions]
        return await self._run(context, request.assignment_id, "decide_prior_auth", lambda sid, _: (
            usecases.decide_prior_auth(self._transact, self._inbox, self._cases, self._feed, self._clock,
                                       reference.denial_reasons(), sid, request.assignment_id, decisions,
                                       list(request.questions), request.amendment_reason,
                                       fingerprint=self._fingerprint)))

    async def SubmitOpinion(self, request, context):
        opinion = request.opinion if request.HasField("opinion") else None
        return await self._run(context, request.assignment_id, "submit_opinion",
                               lambda sid, author: usecases.submit_opinion(
                                   self._transact, self._feed, self._clock, sid, request.assignment_id, opinion,
                                   author))

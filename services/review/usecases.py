"""review's service layer: one function per command and per event, over the
repository port and the unit of work. No gRPC, no MongoDB here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from secondlook.audit import Access, AuditTrail, recording
from secondlook.auth import Principal
from secondlook.clock import Clock
from secondlook.errors import InvalidInput
from secondlook.events import Event
from secondlook.unitofwork import Transact
from secondlook.v1.events_pb2 import SlaChange
from secondlook.v1.review_pb2 import AssignmentState as A
from secondlook.v1.review_pb2 import IndependentAssessment, Opinion
from secondlook.validation import question_violations

from .domain.assignment import (
    OPEN,
    Assignment,
    IllegalAction,
    accepted,
    amended,
    assessed,
    assignment_expired,
    assignments_withdrawn,
    decision_event,
    declined,
    event_for,
    expired,
    info_request_id,
    info_requested,
    offer_from,
    panel_opinion,
    questions_text,
    records_arrived,
    sla_alarm,
    sla_event,
    validate_decline,
    withdrawn,
    withholds_first_opinion,
)
from .domain.assignment import moved as assignment_moved
from .domain.inbox import InboxPage
from .domain.opinion import (
    MAX_VERSIONS,
    OpinionRecord,
    assessment_of,
    opinion_amended,
    record_of,
    validate_assessment,
    validate_opinion,
    validate_reason,
)
from .domain.priorauth import PEND, DenialReasons, ItemDecision, decision_id, decision_violations, decisions_text
from .domain.sla import DEFAULT_RULES, Alarm, SlaRules
from .repository import ReviewRepository


class UnitOfWork(Protocol):
    assignments: ReviewRepository
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


class InboxQuery(Protocol):
    async def list_for_specialist(self, specialist_id: str, states: list[int]) -> list[Assignment]: ...
    async def changed_since(self, specialist_id: str, since: datetime) -> list[Assignment]: ...
    async def page_for_specialist(self, specialist_id: str, query: InboxPage, limit: int) -> list[Assignment]: ...
    async def get_for_specialist(self, assignment_id: str, specialist_id: str) -> Assignment | None: ...
    async def opinions_of(self, assignment_id: str) -> list[OpinionRecord]: ...
    async def panel_opinions(self, assignment: Assignment) -> list[OpinionRecord]: ...


class CaseSource(Protocol):
    """intake's case, as the reviewer needs it (cases.py); None when intake has no such case."""

    async def case_for_review(self, case_id: str, specialist_id: str): ...
    async def record_info_request(self, case_id: str, request_id: str, specialist_id: str,
                                  questions: list[str]) -> bool: ...
    async def record_prior_auth_decision(self, case_id: str, decision_id: str, specialist_id: str,
                                         decisions: list[ItemDecision], amendment_reason: str = "") -> bool: ...


class Fingerprint(Protocol):
    """A keyed digest of a reviewer's text (PhiCipher.fingerprint, under review's data
    key), the same on every replica, for ids a retry must name again."""

    async def __call__(self, text: str) -> str: ...


class Feed(Protocol):
    """Where committed assignment changes go, and where a watcher gets them (feed.py)."""

    def publish(self, assignment: Assignment) -> None: ...
    def latest(self, assignment_id: str) -> Assignment | None: ...
    def forget(self, assignment_id: str) -> None: ...
    def subscribe(self, specialist_id: str): ...
    def unsubscribe(self, specialist_id: str, watcher) -> None: ...


RESUME_LIMIT = 500  # changes a resumed watch replays (the reader reads at most this many)


class TooFarBehind(Exception):
    """More changes since the position than a resume replays: watch afresh, from the open inbox."""


OPEN_STATES = sorted(OPEN)


class NotFound(Exception):
    """No such assignment for this specialist (another's is indistinguishable from a missing one)."""


class InvalidOpinion(InvalidInput):
    """The opinion is incomplete or out of range: nothing is stored."""


class InvalidQuestions(InvalidInput):
    """No question, too many, or one blank or too long: nothing is asked."""


class CaseClosed(Exception):
    """intake has no open case to ask about (withdrawn or closed meanwhile)."""


class InvalidDecline(InvalidInput):
    """A decline without a reason, or with too long a note: nothing is stored."""


class Superseded(Exception):
    """The assignment changed while the command ran; the caller may read it again."""


# --- events ----------------------------------------------------------------------
async def record_offers(assignments: ReviewRepository, feed: Feed, clock: Clock, events: list[Event]) -> list[bool]:
    """specialist.offered: each offer lands in its specialist's inbox, all in one
    write that only inserts (once, however often an event arrives; no
    transaction), and goes to the reviewer's feed. Per event False for a repeat."""
    now = clock.now()
    offers = [offer_from(e, now) for e in events]
    added = await assignments.add_offers(offers)
    for offer, new in zip(offers, added, strict=True):
        if new:
            feed.publish(offer)
    return added


async def withdraw_assignments(uow: UnitOfWork, feed: Feed, clock: Clock, event: Event) -> None:
    """offers.withdrawn: the case's open assignments are withdrawn (their reviewers
    see it on their feed and can act on them no more), and notify hears it after
    any opinion submitted before, on the same topic."""
    now = clock.now()
    done = []
    for current in await uow.assignments.get_many(list(event.offers_withdrawn.assignment_ids)):
        moved = withdrawn(current, now)
        if moved is None:
            continue
        if not await uow.assignments.save_move(current, moved):
            raise Superseded(current.assignment_id)  # the reviewer acted meanwhile: the consumer runs it again
        uow.after_commit.append(lambda moved=moved: feed.publish(moved))
        done.append(moved.assignment_id)
    uow.emit(assignments_withdrawn(event, done))


async def expire_offer(uow: UnitOfWork, feed: Feed, clock: Clock, event: Event) -> None:
    """offer.deadline_passed: an offer still unanswered expires (matching hears it and
    offers the case to the next candidate); one the reviewer answered first stands. An
    offer taken back from a deactivated specialist expires before its deadline."""
    passed = event.offer_deadline_passed
    taken_back = passed.specialist_deactivated
    found = await uow.assignments.get_many([passed.assignment_id])
    if not found:  # never recorded here (its offer event was dead-lettered): nobody can answer it
        uow.emit(assignment_expired(event, passed.assignment_id, passed.specialist_id, taken_back))
        return
    current = found[0]
    moved = expired(current, clock.now(), taken_back)
    if moved is None:
        return
    if not await uow.assignments.save_move(current, moved):
        raise Superseded(current.assignment_id)  # the reviewer acted meanwhile: the consumer runs it again
    uow.emit(assignment_expired(event, moved.assignment_id, moved.specialist_id, taken_back))
    uow.after_commit.append(lambda: feed.publish(moved))


async def resume_reviews(uow: UnitOfWork, feed: Feed, clock: Clock, rules: SlaRules, event: Event) -> None:
    """documents.added: a review waiting on the submitter's records goes on
    (review.resumed: intake records it, the SLA clock runs again), and a clock that
    waited for the case's first records starts (sla.changed STARTED); records added
    while nobody waits on them change nothing here."""
    now = clock.now()
    answers = frozenset(event.documents_added.answers)
    for current in await uow.assignments.waiting_for_records(event.case_id):
        moved = records_arrived(current, answers, rules, now)
        if moved is None:
            continue
        if not await uow.assignments.save_move(current, moved):
            raise Superseded(current.assignment_id)  # the reviewer acted meanwhile: the consumer runs it again
        if current.state == A.ASSIGNMENT_STATE_NEEDS_INFO:
            uow.emit(event_for(moved, "resume", now))
        elif moved.sla is not None:
            uow.emit(sla_event(moved, SlaChange.SLA_CHANGE_STARTED, now))
        uow.after_commit.append(lambda moved=moved: feed.publish(moved))


async def sla_due(transact: Transact, feed: Feed, clock: Clock, assignment_ids: list[str],
                  fired: Callable[[Assignment, Alarm], None] = lambda *_: None) -> None:
    """SLA alarms fell due: each assignment's reminder or breach is recorded on its
    clock with its event (sla.changed: the reviewer is reminded; a breach is the
    escalation operations hear), once: the clock records what fired, and a clock
    paused, stopped or already past it meanwhile fires nothing. `fired` hears each
    alarm once it is committed. An assignment changed meanwhile (another replica's
    keeper, the reviewer) is left: its change re-arms the clock's next alarm."""
    for assignment_id in assignment_ids:
        async def body(uow: UnitOfWork, assignment_id=assignment_id) -> tuple[Assignment, Alarm] | None:
            now = clock.now()
            found = await uow.assignments.get_many([assignment_id])
            due = sla_alarm(found[0], now) if found else None
            if due is None:
                return None
            moved, alarm = due
            if not await uow.assignments.save_move(found[0], moved):
                raise Superseded(assignment_id)  # moved meanwhile: the keeper tries again
            change = SlaChange.SLA_CHANGE_BREACHED if alarm.breach else SlaChange.SLA_CHANGE_REMINDER
            uow.emit(sla_event(moved, change, now, reminder=alarm.reminder))
            uow.after_commit.append(lambda: feed.publish(moved))
            uow.after_commit.append(lambda: fired(moved, alarm))
            return moved, alarm

        try:
            await transact(body)
        except Superseded:
            continue


# --- queries ---------------------------------------------------------------------
# The reviewer reads the case once the offer is theirs: an offer shows its routing facts only.
CASE_VISIBLE = frozenset({A.ASSIGNMENT_STATE_ACCEPTED, A.ASSIGNMENT_STATE_IN_REVIEW,
                          A.ASSIGNMENT_STATE_NEEDS_INFO, A.ASSIGNMENT_STATE_OPINION_SUBMITTED})


async def list_assignments(inbox: InboxQuery, specialist_id: str, query: InboxPage,
                           page_size: int) -> tuple[list[Assignment], tuple[datetime, str] | None]:
    """A page of the specialist's assignments, and where the next one starts (None: the last)."""
    found = await inbox.page_for_specialist(specialist_id, query, page_size + 1)
    page = found[:page_size]
    more = len(found) > page_size
    return page, ((page[-1].offered_at, page[-1].assignment_id) if more else None)


async def get_assignment(inbox: InboxQuery, cases: CaseSource, specialist_id: str, assignment_id: str):
    """The specialist's assignment and, once they accepted it, its case (intake records
    the read) and every signed version of the opinion; NotFound for another's
    assignment as for a missing one."""
    assignment = await inbox.get_for_specialist(assignment_id, specialist_id)
    if assignment is None:
        raise NotFound(assignment_id)
    if assignment.state not in CASE_VISIBLE:
        return assignment, None, []
    case = await cases.case_for_review(assignment.case_id, specialist_id)  # None: withdrawn or closed since
    signed = assignment.state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED  # before, there is none to read
    return assignment, case, await inbox.opinions_of(assignment_id) if signed else []


async def panel_view(inbox: InboxQuery, assignment: Assignment) -> list[OpinionRecord]:
    """A panel's other opinions as this assignment may see them: all the members' for
    its adjudicator; the others' for a member once their own is signed (never before:
    each member reviews independently); none otherwise."""
    if withholds_first_opinion(assignment):  # blind: the members' views would give the first opinion away
        return []
    if assignment.adjudicates and assignment.state in CASE_VISIBLE:
        return await inbox.panel_opinions(assignment)
    if assignment.panel_member and assignment.state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED:
        return await inbox.panel_opinions(assignment)
    return []


@dataclass(frozen=True)
class AssignmentDetail:
    assignment: Assignment
    case: object | None  # intake's CaseForReview, once the reviewer may read it
    opinions: list[OpinionRecord]  # every signed version of this assignment's opinion
    panel: list[OpinionRecord]  # the panel's other opinions it may see (panel_view)


async def assignment_detail(inbox: InboxQuery, cases: CaseSource, audit: AuditTrail, clock: Clock,
                            principal: Principal, assignment_id: str) -> AssignmentDetail:
    """GetAssignment: the assignment with what its reviewer may read of it. What
    reviewers wrote about the case (the opinion's versions, the panel's opinions, their
    own blind assessment) is PHI: the access audit records the read, in the case's
    tenant's chain, before the caller has it (intake records the case's own read)."""
    assignment, case, opinions = await get_assignment(inbox, cases, principal.specialist_id, assignment_id)
    panel = await panel_view(inbox, assignment)
    parts = (("assessment",) if assignment.assessment is not None else ()) + \
        (("opinions",) if opinions else ()) + (("panel_opinions",) if panel else ())
    if parts:
        await audit.record(_reviewer_access(principal, assignment, "GetAssignment", parts, clock.now()))
    return AssignmentDetail(assignment, case, opinions, panel)


def _reviewer_access(principal: Principal, assignment: Assignment, method: str, fields: tuple[str, ...],
                     now: datetime) -> Access:
    """In the case's tenant's chain, the reviewer named as intake names their read of
    the case (specialist id first)."""
    return Access(tenant_id=assignment.tenant_id, subject=f"{principal.specialist_id} as {principal.subject}",
                  roles=tuple(sorted(principal.roles)), method=method, case_id=assignment.case_id, fields=fields,
                  at=now, caller_tenant=principal.tenant)


# What each command that keeps a reviewer's words writes, as the audit names it.
WRITTEN = {"SubmitOpinion": ("opinion",), "AmendOpinion": ("opinion", "amendment_reason"),
           "RecordIndependentAssessment": ("assessment",), "DeclineAssignment": ("decline_note",)}


@dataclass(frozen=True)
class Author:
    """The reviewer writing, and the audit that records what they write: a command
    given one records its write (WRITTEN) once committed, before the caller hears."""

    principal: Principal
    audit: AuditTrail


class NotRecorded(Exception):
    """The write was committed and stands, but its access audit record failed (logged,
    `audit_record_failed`): the caller must not send it again."""


def _record_write(uow: UnitOfWork, author: Author | None, method: str, moved: Assignment, now: datetime,
                  started: list[asyncio.Future]) -> None:
    """The write's record, started in the commit itself (`after_commit`), so a caller
    that goes away meanwhile neither stops nor loses it."""
    if author is not None:
        access = _reviewer_access(author.principal, moved, method, WRITTEN[method], now)
        uow.after_commit.append(lambda: started.append(recording(author.audit, access)))


async def _recorded(started: list[asyncio.Future], moved: Assignment) -> Assignment:
    if started:
        try:
            await asyncio.shield(started[-1])
        except Exception as exc:
            raise NotRecorded(moved.assignment_id) from exc
    return moved


async def conclude_panel(uow: UnitOfWork, event: Event) -> None:
    """panel.concluded: every member signed and they agreed (or disagreed with nobody to
    adjudicate): the case's opinion is signed from it (opinion.submitted, naming every
    member's opinion), which intake shows and notify delivers."""
    uow.emit(panel_opinion(event))


async def watch_assignments(inbox: InboxQuery, feed: Feed, specialist_id: str,
                            since: datetime | None) -> AsyncIterator[Assignment]:
    """The specialist's assignments as they change: the open inbox (or each assignment
    changed since `since`, at its latest version), then each change as it is committed;
    no version twice. The feed is joined before the store is read, so nothing committed
    in between is missed."""
    watcher = feed.subscribe(specialist_id)
    try:
        sent: dict[str, int] = {}
        if since is None:
            first = await inbox.list_for_specialist(specialist_id, OPEN_STATES)
        else:
            first = await inbox.changed_since(specialist_id, since)
            if len(first) >= RESUME_LIMIT:
                raise TooFarBehind(RESUME_LIMIT)
        for assignment in first:
            sent[assignment.assignment_id] = assignment.version
            yield assignment
        while True:
            assignment = await watcher.next()
            if sent.get(assignment.assignment_id, 0) < assignment.version:
                sent[assignment.assignment_id] = assignment.version
                yield assignment
    finally:
        feed.unsubscribe(specialist_id, watcher)


# --- commands --------------------------------------------------------------------
async def _act(transact: Transact, feed: Feed, clock: Clock, specialist_id: str, assignment_id: str,
               action: str, opinion: Opinion | None = None, move=assignment_moved, emits: bool = True,
               announce: Callable[[Assignment, datetime], Event] | None = None,
               author: Author | None = None, written: str = "") -> Assignment:
    """The move `action` by the specialist; with `author`, what it writes (`written`,
    a WRITTEN method) is recorded in the audit once committed (NotRecorded if not)."""
    started: list[asyncio.Future] = []

    async def body(uow: UnitOfWork, known: Assignment | None = None) -> Assignment:
        now = clock.now()
        current = known or await uow.assignments.get_for_specialist(assignment_id, specialist_id)
        if current is None:
            raise NotFound(assignment_id)
        if opinion is not None and current.prior_auth:
            raise IllegalAction("a prior authorization is decided item by item: DecidePriorAuth, not SubmitOpinion")
        moved = move(current, action, now)  # IllegalAction: out of turn
        if moved is current:  # asked again once made: nothing to write, announce or record,
            if known is not None:  # but answered as the store has it (the copy held here may be behind)
                raise Superseded(assignment_id)
            return current
        if opinion is not None and (problems := validate_opinion(opinion, case_diagnosis_code=current.diagnosis_code)):
            raise InvalidOpinion(problems)  # the rules that need the case (a CONFIRMED diagnosis is its own)
        if not await uow.assignments.save_move(current, moved):
            raise Superseded(assignment_id)
        record = None
        if opinion is not None:
            record = _signed(opinion, moved, version=1, now=now)
            await uow.assignments.add_opinion(record)
        if announce is not None:
            uow.emit(announce(moved, now))
        elif emits:
            uow.emit(event_for(moved, action, now, record))
        uow.after_commit.append(lambda: feed.publish(moved))
        _record_write(uow, author, written, moved, now, started)
        return moved

    # The version this replica committed or saw last, if it did lately: no read. Its
    # write is guarded by that version; when the store has moved on (another replica)
    # the move is decided again on what the store has (a refusal too: it may have been
    # decided on a state the assignment has left).
    known = feed.latest(assignment_id)
    if known is not None and known.specialist_id == specialist_id:
        try:
            return await _recorded(started, await transact(lambda uow: body(uow, known)))
        except (Superseded, IllegalAction, InvalidOpinion):
            feed.forget(assignment_id)
    try:
        return await _recorded(started, await transact(body))
    except Superseded:
        # Changed while the command ran (an SLA alarm recorded on the clock, another
        # replica): decided again once on what the assignment is now.
        return await _recorded(started, await transact(body))


async def accept_assignment(transact: Transact, feed: Feed, clock: Clock, specialist_id: str,
                            assignment_id: str, rules: SlaRules = DEFAULT_RULES) -> Assignment:
    """The offer taken; the SLA clock starts (once the case holds records)."""
    return await _act(transact, feed, clock, specialist_id, assignment_id, "accept",
                      move=lambda current, _, now: accepted(current, rules, now))


async def start_review(transact: Transact, feed: Feed, clock: Clock, specialist_id: str,
                       assignment_id: str) -> Assignment:
    return await _act(transact, feed, clock, specialist_id, assignment_id, "start")


async def submit_opinion(transact: Transact, feed: Feed, clock: Clock, specialist_id: str, assignment_id: str,
                         opinion: Opinion | None, author: Author | None = None) -> Assignment:
    violations = validate_opinion(opinion)
    if violations:
        raise InvalidOpinion(violations)
    return await _act(transact, feed, clock, specialist_id, assignment_id, "submit_opinion", opinion,
                      author=author, written="SubmitOpinion")


def _signed(opinion: Opinion, a: Assignment, *, version: int, now: datetime, reason: str = "") -> OpinionRecord:
    return record_of(opinion, opinion_id=str(uuid.uuid4()), assignment_id=a.assignment_id, case_id=a.case_id,
                     specialist_id=a.specialist_id, case_diagnosis_code=a.diagnosis_code, version=version, now=now,
                     reason=reason, assessment=a.assessment)


async def record_assessment(transact: Transact, feed: Feed, clock: Clock, specialist_id: str, assignment_id: str,
                            assessment: IndependentAssessment | None, author: Author | None = None) -> Assignment:
    """Blind review: the reviewer's own diagnosis and treatment, kept as recorded; from
    then on the first opinion's conclusions are shown."""
    violations = validate_assessment(assessment)
    if violations:
        raise InvalidOpinion(violations)
    assert assessment is not None
    # IllegalAction: not now, or the case is not blind. It tells no other service.
    return await _act(transact, feed, clock, specialist_id, assignment_id, "record_assessment", emits=False,
                      move=lambda current, _, now: assessed(current, assessment_of(assessment, now), now),
                      author=author, written="RecordIndependentAssessment")


async def amend_opinion(transact: Transact, feed: Feed, clock: Clock, specialist_id: str, assignment_id: str,
                        opinion: Opinion | None, reason: str, amends_version: int = 0,
                        author: Author | None = None) -> Assignment:
    """A new version of the signed opinion, with the reason; the versions before stay as
    they were signed. With `amends_version`, Superseded when the opinion has moved on
    (a retried call signs nothing twice)."""
    violations = validate_opinion(opinion) + validate_reason(reason)
    if amends_version < 0:
        violations.append(("amends_version", "must not be negative (0: whichever version is the latest)"))
    if violations:
        raise InvalidOpinion(violations)
    assert opinion is not None
    started: list[asyncio.Future] = []

    async def body(uow: UnitOfWork) -> Assignment:
        now = clock.now()
        current = await uow.assignments.get_for_specialist(assignment_id, specialist_id)
        if current is None:
            raise NotFound(assignment_id)
        if current.prior_auth:
            raise IllegalAction("a prior authorization's decision is amended with DecidePriorAuth and an "
                                "amendment_reason, not AmendOpinion")
        moved = amended(current, now)  # IllegalAction: no signed opinion yet
        if current.panel_member:  # its conclusions are the panel's to weigh, as signed: not the case's opinion
            raise IllegalAction("a panel member's signed opinion is one view of the panel's verdict and is not "
                                "amended (an adjudicator's, which is the case's opinion, may be)")
        if problems := validate_opinion(opinion, case_diagnosis_code=current.diagnosis_code):
            raise InvalidOpinion(problems)
        signed = await uow.assignments.opinions_of(assignment_id)
        latest = signed[-1].version if signed else 0
        if amends_version > latest:
            raise IllegalAction(f"amends_version {amends_version}: the opinion's latest version is {latest}")
        if amends_version and amends_version != latest:
            raise Superseded(assignment_id)
        if latest >= MAX_VERSIONS:
            raise IllegalAction(f"the opinion has {MAX_VERSIONS} versions: ask operations to correct it further")
        if not await uow.assignments.save_move(current, moved):
            raise Superseded(assignment_id)
        record = _signed(opinion, moved, version=latest + 1, now=now, reason=reason)
        await uow.assignments.add_opinion(record)
        uow.emit(opinion_amended(record, tenant_id=moved.tenant_id, traceparent=moved.traceparent, now=now))
        uow.after_commit.append(lambda: feed.publish(moved))
        _record_write(uow, author, "AmendOpinion", moved, now, started)
        return moved

    return await _recorded(started, await transact(body))


async def request_more_info(transact: Transact, inbox: InboxQuery, cases: CaseSource, feed: Feed, clock: Clock,
                            specialist_id: str, assignment_id: str, questions: list[str], *,
                            fingerprint: Fingerprint) -> Assignment:
    """The reviewer's questions go to intake, kept with the case for the submitter;
    then the assignment waits on the submitter (info.requested: intake shows the
    case NEEDS_INFO). The request's id comes from the questions and how many requests
    were made before, so a retry names the same request: intake keeps it once, and
    shows it only once info.requested confirms it (a request kept there whose move
    here did not commit is never shown). A retry after a lost reply gets the
    assignment as the request left it."""
    questions = [q.strip() for q in questions]
    violations = question_violations(questions)
    if violations:
        raise InvalidQuestions(violations)
    current = await inbox.get_for_specialist(assignment_id, specialist_id)
    if current is None:
        raise NotFound(assignment_id)
    asked = await fingerprint(questions_text(questions))
    if current.state == A.ASSIGNMENT_STATE_NEEDS_INFO and \
            current.info_request_id == info_request_id(current, asked, current.info_requests_made):
        return current  # this very request, made already
    request_id = info_request_id(current, asked)
    info_requested(current, request_id, len(questions), clock.now())  # IllegalAction before intake is asked
    if not await cases.record_info_request(current.case_id, request_id, specialist_id, questions):
        raise CaseClosed(current.case_id)

    def move(found: Assignment, _: str, now: datetime) -> Assignment:
        if found.info_requests_made != current.info_requests_made:
            raise Superseded(assignment_id)  # another request was made since this one was named
        return info_requested(found, request_id, len(questions), now)

    return await _act(transact, feed, clock, specialist_id, assignment_id, "request_info", move=move)


class InvalidDecision(InvalidInput):
    """The prior-authorization decision breaks a rule: nothing is decided."""


async def decide_prior_auth(transact: Transact, inbox: InboxQuery, cases: CaseSource, feed: Feed, clock: Clock,
                            reasons: DenialReasons, specialist_id: str, assignment_id: str,
                            decisions: list[ItemDecision], questions: list[str],
                            amendment_reason: str = "", *, fingerprint: Fingerprint) -> Assignment:
    """The reviewer's decision on every item of a prior authorization: kept with the
    case in intake (texts and all) before the assignment moves and opinion.submitted
    announces it (codes only); or, every item pended, the reviewer's questions (as
    RequestMoreInfo). With `amendment_reason`, a new decision in place of the one made
    (opinion.amended), every item decided again. A retry names the same decision:
    intake keeps it once."""
    questions = [q.strip() for q in questions]
    amendment_reason = amendment_reason.strip()
    current = await inbox.get_for_specialist(assignment_id, specialist_id)
    if current is None:
        raise NotFound(assignment_id)
    if not current.prior_auth:
        raise IllegalAction("DecidePriorAuth decides a prior authorization; a second opinion is SubmitOpinion")
    violations = decision_violations(current.requested, current.specialty, decisions, questions, reasons)
    violations += question_violations(questions) if questions else []
    if amendment_reason:
        violations += [("amendment_reason", rule) for _, rule in validate_reason(amendment_reason)]
        if any(d.action == PEND for d in decisions):
            violations.append(("decisions", "an amendment decides every item: none is pended"))
    if violations:
        raise InvalidDecision(violations)
    if decisions[0].action == PEND:
        return await request_more_info(transact, inbox, cases, feed, clock, specialist_id, assignment_id, questions,
                                       fingerprint=fingerprint)
    content = await fingerprint(decisions_text(decisions))
    if current.decisions_made and current.decision_id == decision_id(
            f"{assignment_id}:{current.decisions_made - 1}", content):
        return current  # a retry of the decision (or amendment) that stands, after a lost reply
    decided = decision_id(f"{assignment_id}:{current.decisions_made}", content)

    def move(found: Assignment, _: str, now: datetime) -> Assignment:
        if found.decisions_made != current.decisions_made:
            raise Superseded(assignment_id)  # decided meanwhile: this decision was named on what was before
        moved = amended(found, now) if amendment_reason else assignment_moved(found, "submit_opinion", now)
        return replace(moved, decisions_made=found.decisions_made + 1, decision_id=decided)

    move(current, "", clock.now())  # IllegalAction (not now; an amendment before a decision) before intake is told
    if not await cases.record_prior_auth_decision(current.case_id, decided, specialist_id, decisions,
                                                  amendment_reason):
        raise CaseClosed(current.case_id)
    return await _act(transact, feed, clock, specialist_id, assignment_id, "decide_prior_auth", move=move,
                      announce=lambda moved, now: decision_event(moved, decided, decisions, now))


async def decline_assignment(transact: Transact, feed: Feed, clock: Clock, specialist_id: str, assignment_id: str,
                             reason: int, note: str, author: Author | None = None) -> Assignment:
    """The reviewer will not take the case: matching hears the coded reason (the note
    stays here), releases the slot and offers the case to the next candidate. A note
    is the reviewer's words: `author` records it (a coded reason alone writes none)."""
    violations = validate_decline(reason, note)
    if violations:
        raise InvalidDecline(violations)
    note = note.strip()
    return await _act(transact, feed, clock, specialist_id, assignment_id, "decline",
                      move=lambda current, _, now: declined(current, reason, note, now),
                      author=author if note else None, written="DeclineAssignment")

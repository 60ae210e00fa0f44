"""intake's service layer: one function per command, query and event, over the
repository ports and the unit of work. No gRPC, Kafka or MongoDB here."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Protocol

from secondlook import metrics
from secondlook.audit import Access, AuditTrail, recording
from secondlook.auth import Principal
from secondlook.clock import Clock
from secondlook.consumer import PermanentError
from secondlook.errors import InvalidInput
from secondlook.events import Event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact
from secondlook.v1.case_pb2 import Urgency
from secondlook.v1.intake_pb2 import SubmitCaseRequest
from secondlook.validation import question_violations

from .domain import case as cases
from .domain import listing, priorauth_report
from .domain.case import Case, InfoRequest
from .domain.lifecycle import (
    FINAL,
    IllegalTransition,
    TimelineEntry,
    Transition,
    status_name,
    statuses_along,
    timeline_complete,
)
from .domain.listing import CaseQuery
from .domain.priorauth import DecidedItem, Decision, PriorAuthRequest, decision_violations
from .domain.submission import MAX_ATTACHMENTS, ValidSubmission, validate, validate_attachments, validate_prior_auth
from .repository import CaseReader, CaseRepository, DuplicateRequest

log = get_logger(__name__)


class UnitOfWork(Protocol):
    cases: CaseRepository
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


class CaseChanges(Protocol):
    """Where a recorded timeline entry is announced, and a watcher hears of it
    (secondlook/feed.py, keyed by case id)."""

    def publish(self, key: str, item: str) -> None: ...
    def subscribe(self, key: str): ...
    def unsubscribe(self, key: str, watcher) -> None: ...


def _access(principal: Principal, method: str, case: Case, now: datetime,
            fields: tuple[str, ...] | None = None) -> Access:
    if fields is None:  # the whole case: the parts it holds
        fields = cases.parts_shown(case)
    return Access(tenant_id=case.tenant_id, subject=principal.subject, roles=tuple(sorted(principal.roles)),
                  method=method, case_id=case.case_id, fields=fields, at=now, caller_tenant=principal.tenant)


class InvalidSubmission(InvalidInput):
    """The submission breaks validation rules: nothing is stored."""


class NotFound(Exception):
    """No such case for this caller (another tenant's case is one)."""


class KeyReused(Exception):
    """The client_request_id was used before for a different submission in this tenant."""


# --- commands --------------------------------------------------------------------
async def submit_case(transact: Transact, reader: CaseReader, audit: AuditTrail, clock: Clock,
                      request: SubmitCaseRequest, *, principal: Principal, traceparent: str,
                      stuck_after: float) -> tuple[Case, bool]:
    """Stores a valid case and emits case.submitted, or returns the case this key
    made before (created False). Nothing is stored for an invalid request. A new
    case's PHI is written: the audit records it before the caller hears of the case."""
    now = clock.now()
    valid, violations = validate(request, now)
    if valid is None:
        raise InvalidSubmission(violations)
    return await _submit(transact, reader, audit, valid, now, principal=principal, traceparent=traceparent,
                         stuck_after=stuck_after, method="SubmitCase")


async def submit_prior_auth(transact: Transact, reader: CaseReader, audit: AuditTrail, clock: Clock,
                            request: PriorAuthRequest, *, principal: Principal, traceparent: str,
                            stuck_after: float, submission_system: str = "") -> tuple[Case, bool]:
    """SubmitCase for a prior-authorization request (Claim/$submit): a PRIOR_AUTH case,
    idempotent on the submitter's transaction id (of its `submission_system`) within the tenant."""
    now = clock.now()
    valid, violations = validate_prior_auth(request, now, submission_system)
    if valid is None:
        raise InvalidSubmission(violations)
    case, created = await _submit(transact, reader, audit, valid, now, principal=principal, traceparent=traceparent,
                                  stuck_after=stuck_after, method="Claim/$submit")
    if not created:  # a resubmission is answered with the request as it stands: read whole, and recorded
        case = await reader.get_for_tenant(case.case_id, principal.tenant) or case
        if shown := _claim_response_parts(case):
            await audit.record(_access(principal, "Claim/$submit", case, now, shown))
    return case, created


def _claim_response_parts(case: Case) -> tuple[str, ...]:
    """What a ClaimResponse shows beyond the request: the decision, else while it waits
    on them the reviewer's open questions (claimresponse.claim_response_of)."""
    if cases.confirmed_decision(case) is not None:
        return ("prior_auth_decision",)
    return ("info_requests",) if cases.open_questions(case) else ()


def _same_request(case: Case, valid: ValidSubmission, digest: str, content_digest: str) -> bool:
    """Whether the case a key made came from this request: the same request as sent
    (a case from before the digest was keyed keeps the plain fingerprint), or the same
    content once validated, however spelled (a case that kept its content's digest)."""
    if case.request_sha256 in (digest, valid.fingerprint):
        return True
    return bool(content_digest) and case.request_content_sha256 == content_digest


async def _submit(transact: Transact, reader: CaseReader, audit: AuditTrail, valid: ValidSubmission, now: datetime,
                  *, principal: Principal, traceparent: str, stuck_after: float, method: str) -> tuple[Case, bool]:
    tenant_id, submitted_by = principal.tenant, principal.subject
    case_id = str(uuid.uuid4())
    recorded: list[asyncio.Future] = []

    digest = await reader.request_digest(valid.fingerprint)
    content_digest = await reader.request_digest(valid.content_fingerprint) if valid.content_fingerprint else ""
    new, event = cases.new_case(valid, case_id=case_id, tenant_id=tenant_id, submitted_by=submitted_by,
                                traceparent=traceparent, now=now, stuck_after=stuck_after, request_digest=digest,
                                content_digest=content_digest)
    # Sealed before the transaction: the commit this case shares with others
    # (group commit) then waits on nobody's encryption.
    sealed = await reader.seal(new)

    async def body(uow: UnitOfWork) -> tuple[Case, bool]:
        # The key's unique index decides: no read first, a repeat is the rare path.
        await uow.cases.add(new, sealed)
        uow.emit(event)
        # Recorded as soon as the case is committed, while its event is being published.
        uow.after_commit.append(lambda: recorded.append(recording(audit, _access(principal, method, new, now))))
        return new, True

    try:
        case, created = await transact(body)
    except DuplicateRequest:  # this key made a case before (or a concurrent submit just did)
        case, created = await reader.by_request_id(tenant_id, valid.client_request_id,
                                                   valid.client_request_system), False
        if case is None:  # taken under an index of the id alone (a store not yet migrated): the key is taken
            raise KeyReused(valid.client_request_id) from None
    if not created and not _same_request(case, valid, digest, content_digest):
        raise KeyReused(valid.client_request_id)
    if created:
        await (asyncio.shield(recorded[0]) if recorded else audit.record(_access(principal, method, case, now)))
        with bound_contextvars(case_id=case.case_id):
            log.info("case_submitted")
    else:  # the first attempt may have committed and then failed to record the write
        # (of the parts this request wrote: the case read back here is without its content)
        await audit.record_once(_access(principal, method, case, now, cases.parts_shown(new)))
    return case, created


class WithdrawalContended(Exception):
    """The case kept moving while it was being withdrawn: the caller may try again."""


async def withdraw_case(transact: Transact, audit: AuditTrail, changes: CaseChanges, clock: Clock,
                        principal: Principal, case_id: str, reason: int, note: str) -> Case:
    """Withdraws the case (WITHDRAWN, its case.withdrawn event emitted with it), or
    returns it as it is when it was withdrawn before. NotFound for a case the caller
    may not read, NotWithdrawable once delivered, InvalidInput for a bad reason or note."""
    violations = cases.withdrawal_violations(reason, note)
    if violations:
        raise InvalidInput(violations)
    writable = {principal.tenant}  # an operator's grants are to read; changes are the submitter's own

    async def body(uow: UnitOfWork) -> tuple[Case, bool] | None:
        case = await uow.cases.get(case_id)
        if case is None or case.tenant_id not in writable:
            raise NotFound(case_id)
        if case.withdrawn_at is not None:
            return case, False
        moved, event = cases.withdraw(case, reason, principal.subject, clock.now())
        if not await uow.cases.save_withdrawal(case, moved, event.event_id, note):
            return None  # a projection landed meanwhile: decide again on the case as it is now
        uow.emit(event)
        uow.after_commit.append(lambda: changes.publish(case_id, case_id))
        return moved, True

    for _ in range(PROJECTION_ROUNDS):
        outcome = await transact(body)
        if outcome is not None:
            case, withdrawn = outcome
            access = _access(principal, "WithdrawCase", case, clock.now(), fields=("status", "withdrawal"))
            if withdrawn:
                await audit.record(access)
                with bound_contextvars(case_id=case_id):
                    log.info("case_withdrawn", reason=reason)
            else:  # a retry: the first attempt may have committed and then failed to record the write
                await audit.record_once(access)
            return case
    raise WithdrawalContended(case_id)


class DocumentsContended(Exception):
    """The case's records kept changing while these were added: the caller may try again."""


async def add_documents(transact: Transact, audit: AuditTrail, changes: CaseChanges, clock: Clock,
                        principal: Principal, case_id: str, attachments) -> tuple[Case, int, int]:
    """Adds the records the case does not hold yet (a documents.added event with
    them), returning the case, how many were new and how many it holds now. The
    case's records are read (opened) to compare: the access audit records it."""
    valid, violations = validate_attachments(attachments)
    if not attachments:
        violations.append(("attachments", "must have at least one record to add"))
    if violations:
        raise InvalidInput(violations)
    writable = {principal.tenant}  # an operator's grants are to read; changes are the submitter's own

    async def body(uow: UnitOfWork) -> tuple[Case, int, int] | None:
        case = await uow.cases.get(case_id)
        if case is None or case.tenant_id not in writable:
            raise NotFound(case_id)
        existing, count_read = await uow.cases.attachments_of(case_id)
        try:
            outcome = cases.add_documents(case, existing, valid, clock.now(), MAX_ATTACHMENTS)
        except cases.TooManyAttachments as exc:
            raise InvalidInput([("attachments", str(exc))]) from None
        if outcome is None:
            return case, 0, len(existing)
        moved, event, held = outcome
        if not await uow.cases.save_documents(case, moved, held, event.event_id, count_read):
            return None  # the case moved or gained records meanwhile: compare again
        uow.emit(event)
        uow.after_commit.append(lambda: changes.publish(case_id, case_id))
        return moved, len(held) - len(existing), len(held)

    for _ in range(PROJECTION_ROUNDS):
        outcome = await transact(body)
        if outcome is not None:
            case, added, total = outcome
            await audit.record(_access(principal, "AddDocuments", case, clock.now(), fields=("attachments",)))
            if added:
                with bound_contextvars(case_id=case_id):
                    log.info("documents_added", added=added)
            return outcome
    raise DocumentsContended(case_id)


# --- queries ---------------------------------------------------------------------
async def get_case(reader: CaseReader, audit: AuditTrail, clock: Clock, principal: Principal,
                   case_id: str) -> Case | None:
    """The tenant's case, once the audit has recorded the read; another tenant's is
    indistinguishable from a missing one (and nothing is read, so nothing recorded)."""
    readable = sorted(principal.readable_tenants())  # an operator's token may grant several
    case = await reader.get_for_tenant(case_id, *readable) if readable else None
    if case is not None:
        await audit.record(_access(principal, "GetCase", case, clock.now()))
    return case


# What a reviewer is shown of a case (messages.review_message), of the parts it holds.
REVIEW_PARTS = ("diagnoses", "first_opinion", "clinical_question", "attachments", "info_requests", "prior_auth",
                "prior_auth_decision")


REVIEW_SERVICE = "service:review"  # the one caller GetCaseForReview answers


class NotReviewService(Exception):
    """A case-reader token that is not the review service's."""


async def case_for_review(reader: CaseReader, audit: AuditTrail, clock: Clock, principal: Principal, case_id: str,
                          specialist_id: str) -> Case | None:
    """The case for the reviewer the review service reads it for, once the audit has
    recorded the read as theirs (made through the service); None when there is no
    such case or it was withdrawn or closed (nothing is left to review)."""
    if principal.subject != REVIEW_SERVICE or principal.tenant != "secondlook-services":
        raise NotReviewService(principal.subject)
    case = await reader.get_any(case_id)
    if case is not None and case.status in FINAL:
        return None
    if case is not None:
        parts = ("patient.sex", "patient.age") + tuple(p for p in cases.parts_shown(case) if p in REVIEW_PARTS)
        access = _access(principal, "GetCaseForReview", case, clock.now(), parts)
        await audit.record(dataclasses.replace(access, subject=f"{specialist_id} via {principal.subject}"))
    return case


NOTIFY_SERVICE = "service:notify"  # the one caller GetContacts answers
# What each channel of notify's reads (the physician's NPI with either: whose
# notification preferences apply).
CONTACT_CHANNELS = {"email": ("patient.email", "first_opinion.physician.email", "first_opinion.physician.npi",
                              "language"),
                    "sms": ("patient.phone", "first_opinion.physician.npi", "language")}


class NotNotifyService(Exception):
    """A contact-reader token that is not the notify service's."""


async def contacts_for_notice(reader: CaseReader, audit: AuditTrail, clock: Clock, principal: Principal,
                              case_id: str, purpose: str, channels: tuple[str, ...] = ("email",)) -> Case | None:
    """The case, for its contact details, to the notify service sending a notice, once
    the audit has recorded the read as made for that notice; None when there is no
    such case (a withdrawn or closed one still answers: its patient may be told)."""
    if principal.subject != NOTIFY_SERVICE or principal.tenant != "secondlook-services":
        raise NotNotifyService(principal.subject)
    case = await reader.get_any(case_id)
    if case is not None:
        parts = tuple(dict.fromkeys(p for channel in channels for p in CONTACT_CHANNELS[channel]))
        access = _access(principal, "GetContacts", case, clock.now(), parts)
        await audit.record(dataclasses.replace(access, subject=f"{purpose} via {principal.subject}"))
    return case


async def prior_auth_for_notice(reader: CaseReader, audit: AuditTrail, clock: Clock, principal: Principal,
                                case_id: str, purpose: str) -> Case | None:
    """A prior authorization (its request and confirmed decision) to the notify service
    sending the submitter's webhook, once the audit has recorded the read for that
    notice (the ClaimResponse it answers with names no patient); None when there is no
    such prior authorization."""
    if principal.subject != NOTIFY_SERVICE or principal.tenant != "secondlook-services":
        raise NotNotifyService(principal.subject)
    case = await reader.get_any(case_id)
    if case is None or case.content is None or case.content.prior_auth is None:
        return None
    access = _access(principal, "GetClaimResponse", case, clock.now(), ("prior_auth", "prior_auth_decision"))
    await audit.record(dataclasses.replace(access, subject=f"{purpose} via {principal.subject}"))
    return case


class InvalidQuestions(InvalidInput):
    """No question, too many, or one blank or too long: nothing is kept."""


async def record_info_request(transact: Transact, audit: AuditTrail, clock: Clock, principal: Principal,
                              case_id: str, request_id: str, specialist_id: str, questions: list[str]) -> InfoRequest:
    """Keeps a reviewer's questions with the case, sealed, for the submitter to read
    (review's info.requested event moves the case to NEEDS_INFO); the same request
    again keeps nothing more. None of the case's content is read."""
    if principal.subject != REVIEW_SERVICE or principal.tenant != "secondlook-services":
        raise NotReviewService(principal.subject)
    questions = [q.strip() for q in questions]
    violations = question_violations(questions)
    if violations:
        raise InvalidQuestions(violations)
    request = InfoRequest(request_id=request_id, specialist_id=specialist_id, questions=tuple(questions),
                          requested_at=clock.now())

    async def body(uow: UnitOfWork) -> Case:
        case = await uow.cases.get(case_id)
        if case is None:
            raise NotFound(case_id)
        cases.info_request_added(case, request)  # NotAskable: closed to questions
        await uow.cases.add_info_request(case, request)  # False: kept before (a retry)
        return case

    case = await transact(body)
    access = _access(principal, "RecordInfoRequest", case, clock.now(), ("info_requests",))
    await audit.record(dataclasses.replace(access, subject=f"{specialist_id} via {principal.subject}"))
    return request


class InvalidDecision(InvalidInput):
    """The decision review asked to keep breaks a rule: nothing is kept."""


class DecisionContended(Exception):
    """The case's decisions kept changing while this one was kept: the caller may try again."""


async def record_prior_auth_decision(transact: Transact, reader: CaseReader, audit: AuditTrail, clock: Clock,
                                     principal: Principal, case_id: str, decision_id: str, specialist_id: str,
                                     items: list[DecidedItem], amendment_reason: str = "") -> Decision:
    """Keeps a reviewer's prior-authorization decision with the case, texts sealed, for
    $inquire and the ClaimResponse once review's opinion.submitted confirms it; the
    same decision again keeps nothing more. NotDecidable: not a prior authorization
    under review, or decided already. Whose decision it is, review has checked (its
    assignment); intake may not have heard of the offer yet, so it does not ask."""
    if principal.subject != REVIEW_SERVICE or principal.tenant != "secondlook-services":
        raise NotReviewService(principal.subject)
    decision = Decision(decision_id, specialist_id, tuple(items), clock.now(), amendment_reason.strip())
    for _ in range(PROJECTION_ROUNDS):
        case = await reader.get_any(case_id)
        if case is None or case.content is None:
            raise NotFound(case_id)
        kept = next((d for d in case.prior_auth_decisions if d.decision_id == decision_id), None)
        if kept is not None:
            return kept  # a retry
        if case.content.prior_auth is not None and (violations := decision_violations(
                case.content.prior_auth, items, decision.amendment_reason)):
            raise InvalidDecision(violations)
        if cases.decision_added(case, decision) is None:  # NotDecidable: not now
            continue

        async def body(uow: UnitOfWork, case=case) -> bool:
            return await uow.cases.add_prior_auth_decision(case, decision)

        if await transact(body):
            access = _access(principal, "RecordPriorAuthDecision", case, clock.now(), ("prior_auth_decision",))
            await audit.record(dataclasses.replace(access, subject=f"{specialist_id} via {principal.subject}"))
            return decision
    raise DecisionContended(case_id)


async def prior_auth_request(reader: CaseReader, audit: AuditTrail, clock: Clock, principal: Principal,
                             identifiers: tuple[str, ...], member_id: str, system: str = "") -> Case | None:
    """The caller's tenant's latest prior-authorization request under the submitter's
    trace number (else its transaction id) for this member ($inquire); None when there is none (another
    tenant's is never found). `system`: the inquiry's transaction id's system: then only a
    request sent under that system (or under none) answers, as it is keyed, the one sent
    under that very system first. The read is
    recorded: the answer names the patient."""
    found = []
    for identifier in identifiers:  # the trace number, else the transaction id
        found = [c for c in await reader.prior_auth_requests(principal.tenant, identifier, member_id)
                 if c.content is not None and c.content.prior_auth is not None
                 and c.content.prior_auth.member_id == member_id
                 and (not system or c.client_request_system in (system, ""))]
        if found:
            break
    if not found:
        return None
    # A request sent under the inquiry's very system answers before one sent under none.
    exact = [c for c in found if system and c.client_request_system == system]
    case = (exact or found)[-1]
    shown = ("patient", "prior_auth") + _claim_response_parts(case)
    await audit.record(_access(principal, "Claim/$inquire", case, clock.now(), fields=shown))
    return case


async def case_status(reader: CaseReader, principal: Principal, case_id: str) -> Case | None:
    """The case without its content (status, timeline): no PHI read, nothing to record."""
    readable = sorted(principal.readable_tenants())
    return await reader.status_for_tenant(case_id, *readable) if readable else None


async def list_cases(reader: CaseReader, audit: AuditTrail, clock: Clock, principal: Principal,
                     query: CaseQuery) -> tuple[list[Case], str]:
    """A page of the cases the query asks for, and the token of the next page ("" on
    the last). The whole-case view, and a search by patient identifier, record
    every case listed in the access audit."""
    found = await reader.list_cases(query, query.page_size + 1)
    page, more = found[:query.page_size], len(found) > query.page_size
    if query.full or query.patient is not None:  # PHI read, or a patient's cases found by their identifier
        now = clock.now()
        await asyncio.gather(*(audit.record(_access(principal, "ListCases", case, now,
                                                    None if query.full else ("patient.identifiers",)))
                               for case in page))
    token = listing.page_token(query, page[-1].submitted_at, page[-1].case_id) if more else ""
    return page, token


class PositionAhead(Exception):
    """A resume position past the case's last entry."""


async def watch_case(reader: CaseReader, changes: CaseChanges, audit: AuditTrail, clock: Clock,
                     principal: Principal, case_id: str,
                     after_position: int) -> AsyncIterator[tuple[int, TimelineEntry, int]]:
    """The case's timeline entries after `after_position` as (position, entry, the
    case's status after it), then each new entry as it is recorded, until no more
    are to come (withdrawn, closed, or delivered with every stage recorded). Subscribed before the first read, so an entry recorded in between is
    not missed; every read is of the store, so each entry goes out once, in order."""
    readable = sorted(principal.readable_tenants())
    watcher = changes.subscribe(case_id)
    try:
        case = await reader.status_for_tenant(case_id, *readable) if readable else None
        if case is None:
            raise NotFound(case_id)
        if after_position > len(case.timeline):
            raise PositionAhead(len(case.timeline))
        await audit.record(_access(principal, "WatchCase", case, clock.now(), fields=("timeline",)))
        sent = after_position
        while True:
            statuses = statuses_along(case.timeline)
            for position in range(sent + 1, len(case.timeline) + 1):
                yield position, case.timeline[position - 1], statuses[position - 1]
            sent = max(sent, len(case.timeline))
            if timeline_complete(case.status, case.timeline):
                return
            await watcher.next_all()
            case = await reader.status_for_tenant(case_id, *readable)
            if case is None:  # erased under the stream (retention)
                return
    finally:
        changes.unsubscribe(case_id, watcher)


# --- events ----------------------------------------------------------------------
class ProjectionContended(Exception):
    """The case kept moving under the projection: the consumer tries again later."""


PROJECTION_ROUNDS = 5


async def project(repository: CaseRepository, changes: CaseChanges, event: Event, clock: Clock,
                  stuck_after: float) -> bool:
    """A downstream stage event moves the case's status forward and joins its timeline.

    One guarded write, no transaction: the case records the event's id, so a
    repeat changes nothing; when the case moved since it was read (another
    event, a redrive), it is read again and the rules decide again. False for a
    repeat (the case had recorded the event)."""
    for _ in range(PROJECTION_ROUNDS):
        case = await repository.get(event.case_id)
        _check_owner(case, event)
        decided = _decide(case, event, clock, stuck_after)
        if not isinstance(decided, tuple):
            return decided
        moved, step = decided
        if await repository.save_projection(case, moved, (event.event_id,)):
            _log_moved(event, step)
            _count_decision(event, case)
            changes.publish(event.case_id, event.case_id)
            return True
    raise ProjectionContended(f"case {event.case_id!r} moved {PROJECTION_ROUNDS} times while projecting")


async def project_many(repository: CaseRepository, changes: CaseChanges, events: list[Event], clock: Clock,
                       stuck_after: float) -> list[bool | None]:
    """`project` for a batch of events: the cases read in one request, the projections
    written in one, a case's events in the batch folded into one write (in the
    batch's order, which is the case's partition order). Per event True (applied),
    False (a repeat) or None: project it alone (its case is missing or moved meanwhile)."""
    read = await repository.get_many(sorted({e.case_id for e in events}))
    current = dict(read)  # each case as the batch's events so far leave it
    results: list[bool | None] = [None] * len(events)
    folded: dict[str, list[tuple[int, Transition]]] = {}
    after_fold: dict[str, list[int]] = {}
    decisions: dict[int, object] = {}
    for i, event in enumerate(events):
        case = current.get(event.case_id)
        if case is None or case.tenant_id != event.tenant_id:
            continue  # alone: refused there, with the reason
        decided = _decide(case, event, clock, stuck_after)
        if isinstance(decided, tuple):
            current[event.case_id], step = decided
            folded.setdefault(event.case_id, []).append((i, step))
        elif event.case_id in folded:
            after_fold.setdefault(event.case_id, []).append(i)  # decided over writes not yet saved
        else:
            results[i] = decided
        decisions[i] = decided
    case_ids = list(folded)
    saved = await repository.save_projections([
        (read[c], current[c], tuple(events[i].event_id for i, _ in folded[c])) for c in case_ids])
    for case_id, ok in zip(case_ids, saved, strict=True):
        if ok:
            changes.publish(case_id, case_id)
            for i, step in folded[case_id]:
                _log_moved(events[i], step)
                _count_decision(events[i], read[case_id])
                results[i] = True
            for i in after_fold.get(case_id, ()):
                results[i] = decisions[i]
    return results


def _check_owner(case: Case | None, event: Event) -> None:
    if case is None:
        raise PermanentError(f"case_id: no case {event.case_id!r} in intake")
    if case.tenant_id != event.tenant_id:
        raise PermanentError("tenant_id: event's tenant does not own the case")


def _decide(case: Case, event: Event, clock: Clock, stuck_after: float) -> tuple[Case, Transition] | bool:
    """The projected case and step to save, or the outcome when there is nothing
    to write: True for a refused transition (refused again the same way on a
    repeat), False for a repeat."""
    try:
        moved, step = cases.project(case, event, clock.now(), stuck_after)
    except IllegalTransition as exc:
        with bound_contextvars(case_id=case.case_id):
            log.warning("transition_refused", status=status_name(case.status), reason=str(exc))
        return True
    if step.entry is None:
        return False  # recorded before: a repeat
    return moved, step


def _log_moved(event: Event, step: Transition) -> None:
    if step.status_changed:
        with bound_contextvars(case_id=event.case_id):
            log.info("case_status_changed", status=status_name(step.status))


def _count_decision(event: Event, case: Case) -> None:
    """A prior authorization's decision, recorded now: the figures a payer publishes."""
    if event.HasField("opinion_submitted") and event.opinion_submitted.prior_auth_decisions:
        actions = [d.action for d in event.opinion_submitted.prior_auth_decisions]
        metrics.PRIOR_AUTH_DECISIONS.labels(case.tenant_id, priorauth_report.outcome_of(actions)).inc()
        received, decided = case.submitted_at, event.occurred_at.ToDatetime(tzinfo=timezone.utc)
        urgency = "expedited" if case.urgency == Urgency.URGENCY_EXPEDITED else "standard"
        metrics.PRIOR_AUTH_DECISION_SECONDS.labels(case.tenant_id, urgency).observe(
            max(0.0, (decided - received).total_seconds()))
    elif event.HasField("opinion_amended") and event.opinion_amended.opinion.prior_auth_decisions:
        actions = [d.action for d in event.opinion_amended.opinion.prior_auth_decisions]
        metrics.PRIOR_AUTH_AMENDMENTS.labels(case.tenant_id, priorauth_report.outcome_of(actions)).inc()


# --- the sweeper -------------------------------------------------------------------
async def sweep(transact: Transact, reader: CaseReader, clock: Clock, *, stuck_after: float,
                max_per_sweep: int) -> list[Case]:
    """Re-drives the cases stuck in a stage the system owns (at most `max_per_sweep`),
    in one transaction; a case that moved meanwhile, or that another replica
    re-drove, is left alone. Returns the cases re-driven."""
    now = clock.now()
    due = await reader.due_for_redrive(now, max_per_sweep)
    if not due:
        return []

    async def body(uow: UnitOfWork) -> list[Case]:
        redriven = []
        for case in due:
            moved, event = cases.redrive(case, now, stuck_after)
            if await uow.cases.save_redrive(case, moved):
                uow.emit(event)
                redriven.append(case)
        return redriven

    return await transact(body)

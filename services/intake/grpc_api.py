"""intake's gRPC entry point: each method mapped to its use case, and the outcome back to gRPC."""

from __future__ import annotations

import grpc

from secondlook.auth import TokenExpired, require_role, while_token_valid
from secondlook.clock import Clock
from secondlook.errors import InvalidInput, field_violations
from secondlook.events import new_traceparent, trace_id_of
from secondlook.feed import FellBehind
from secondlook.logging import bound_contextvars
from secondlook.unitofwork import Transact
from secondlook.v1 import intake_pb2, intake_pb2_grpc
from secondlook.validation import question_violations

from . import usecases
from .domain.case import ClosedToDocuments, NotAskable, NotDecidable, NotWithdrawable
from .domain.listing import parse_query
from .domain.priorauth import DecidedItem
from .fhir.claimresponse import claim_response_of
from .fhir.outcome import to_json
from .messages import (
    case_message,
    contacts_message,
    decision_message,
    entry_message,
    info_request_message,
    review_message,
)
from .repository import CaseReader


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, transact: Transact, reader: CaseReader, audit: usecases.AuditTrail,
                 changes: usecases.CaseChanges, clock: Clock, stuck_after: float):
        self._transact = transact
        self._changes = changes
        self._reader = reader
        self._audit = audit
        self._clock = clock
        self._stuck_after = stuck_after

    async def SubmitCase(self, request: intake_pb2.SubmitCaseRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter")
        traceparent = dict(context.invocation_metadata() or ()).get("traceparent") or new_traceparent()
        with bound_contextvars(trace_id=trace_id_of(traceparent)):
            try:
                case, created = await usecases.submit_case(
                    self._transact, self._reader, self._audit, self._clock, request, principal=principal,
                    traceparent=traceparent, stuck_after=self._stuck_after,
                )
            except usecases.InvalidSubmission as exc:
                await context.abort_with_status(field_violations(*exc.violations))
            except usecases.KeyReused:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS,
                                    "client_request_id: already used for a different submission in this tenant")
        return intake_pb2.SubmitCaseResponse(case_id=case.case_id, status=case.status, created=created)

    async def GetCase(self, request: intake_pb2.GetCaseRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter", "operator")
        if not request.case_id:
            await context.abort_with_status(field_violations(("case_id", "is required")))
        case = await usecases.get_case(self._reader, self._audit, self._clock, principal, request.case_id)
        if case is None:
            # Another tenant's case is indistinguishable from a missing one.
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        return case_message(case)

    async def GetCaseForReview(self, request: intake_pb2.GetCaseForReviewRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "case-reader")
        missing = [(name, "is required") for name in ("case_id", "specialist_id") if not getattr(request, name)]
        if missing:
            await context.abort_with_status(field_violations(*missing))
        try:
            case = await usecases.case_for_review(self._reader, self._audit, self._clock, principal, request.case_id,
                                                  request.specialist_id)
        except usecases.NotReviewService:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "GetCaseForReview answers the review service only")
        if case is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        return review_message(case, self._clock.now().date(), request.specialist_id)

    async def RecordInfoRequest(self, request: intake_pb2.RecordInfoRequestRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "case-reader")
        if principal.subject != usecases.REVIEW_SERVICE:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "RecordInfoRequest answers the review service only")
        problems = [(name, "is required") if not getattr(request, name) else (name, "must be at most 128 characters")
                    for name in ("case_id", "request_id", "specialist_id")
                    if not getattr(request, name) or len(getattr(request, name)) > 128]
        problems += question_violations(list(request.questions))
        if problems:
            await context.abort_with_status(field_violations(*problems))
        try:
            kept = await usecases.record_info_request(self._transact, self._audit, self._clock, principal,
                                                      request.case_id, request.request_id, request.specialist_id,
                                                      list(request.questions))
        except usecases.NotReviewService:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "RecordInfoRequest answers the review service only")
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        except NotAskable as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"case_id: {exc}")
        return info_request_message(kept)

    async def RecordPriorAuthDecision(self, request: intake_pb2.RecordPriorAuthDecisionRequest,
                                      context: grpc.aio.ServicerContext):
        principal = await require_role(context, "case-reader")
        refusal = "RecordPriorAuthDecision answers the review service only"
        if principal.subject != usecases.REVIEW_SERVICE:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
        problems = [(name, "is required") if not getattr(request, name) else (name, "must be at most 128 characters")
                    for name in ("case_id", "decision_id", "specialist_id")
                    if not getattr(request, name) or len(getattr(request, name)) > 128]
        if not request.decisions:
            problems.append(("decisions", "is required: one per item of the request"))
        if problems:
            await context.abort_with_status(field_violations(*problems))
        items = [DecidedItem(key=d.item_key, action=d.action, reason_code=d.reason_code, provider_text=d.provider_text,
                             patient_text=d.patient_text, approved_quantity=d.approved_quantity,
                             approved_code=d.approved_code) for d in request.decisions]
        try:
            kept = await usecases.record_prior_auth_decision(
                self._transact, self._reader, self._audit, self._clock, principal, request.case_id,
                request.decision_id, request.specialist_id, items, request.amendment_reason)
        except usecases.NotReviewService:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        except usecases.InvalidDecision as exc:
            await context.abort_with_status(field_violations(*exc.violations))
        except NotDecidable as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"case_id: {exc}")
        except usecases.DecisionContended:
            await context.abort(grpc.StatusCode.ABORTED, "the case's decisions changed while this one was kept: "
                                                         "try again")
        return decision_message(kept)

    async def GetContacts(self, request: intake_pb2.GetContactsRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "contact-reader")
        problems = [("case_id", "is required")] if not request.case_id else []
        if not request.purpose or len(request.purpose) > 100 or not request.purpose.isprintable():
            problems.append(("purpose", "must name the notice: printable, 1 to 100 characters"))
        channels = tuple(dict.fromkeys(request.channels)) or ("email",)
        problems += [(f"channels[{i}]", f"must be one of {', '.join(usecases.CONTACT_CHANNELS)}")
                     for i, channel in enumerate(request.channels) if channel not in usecases.CONTACT_CHANNELS]
        if problems:
            await context.abort_with_status(field_violations(*problems))
        try:
            case = await usecases.contacts_for_notice(self._reader, self._audit, self._clock, principal,
                                                      request.case_id, request.purpose, channels)
        except usecases.NotNotifyService:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "GetContacts answers the notify service only")
        if case is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        return contacts_message(case, channels)

    async def GetClaimResponse(self, request: intake_pb2.GetClaimResponseRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "contact-reader")
        problems = [("case_id", "is required")] if not request.case_id else []
        if not request.purpose or len(request.purpose) > 100 or not request.purpose.isprintable():
            problems.append(("purpose", "must name the notice: printable, 1 to 100 characters"))
        if problems:
            await context.abort_with_status(field_violations(*problems))
        try:
            case = await usecases.prior_auth_for_notice(self._reader, self._audit, self._clock, principal,
                                                        request.case_id, request.purpose)
        except usecases.NotNotifyService:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "GetClaimResponse answers the notify service only")
        if case is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no prior authorization {request.case_id[:64]!r}")
        # A webhook's copy: the reasons' codes, not the reviewer's words ($inquire has them).
        bundle, decided = claim_response_of(case, announced=request.decision_id[:64], with_texts=False,
                                            announced_version=max(0, request.decision_version))
        return intake_pb2.ClaimResponseDocument(case_id=case.case_id, tenant_id=case.tenant_id,
                                                fhir_json=to_json(bundle["entry"][0]["resource"]), decided=decided)

    async def ListCases(self, request: intake_pb2.ListCasesRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter", "operator")
        query, violations = parse_query(request, principal.readable_tenants())
        if query is None:
            await context.abort_with_status(field_violations(*violations))
        cases, token = await usecases.list_cases(self._reader, self._audit, self._clock, principal, query)
        return intake_pb2.ListCasesResponse(cases=[case_message(c) for c in cases], next_page_token=token)

    async def WatchCase(self, request: intake_pb2.WatchCaseRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter", "operator")
        violations = []
        if not request.case_id:
            violations.append(("case_id", "is required"))
        if request.after_position < 0:
            violations.append(("after_position", "must be 0 or a position received before"))
        if violations:
            await context.abort_with_status(field_violations(*violations))
        updates = usecases.watch_case(self._reader, self._changes, self._audit, self._clock, principal,
                                      request.case_id, request.after_position)
        try:
            async for position, entry, status in while_token_valid(updates, principal):
                yield intake_pb2.CaseTimelineUpdate(entry=entry_message(entry), position=position, case_status=status)
        except TokenExpired:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "the token expired: resume from the last position "
                                                                 "received with a fresh one")
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        except usecases.PositionAhead as exc:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                f"after_position: the case has {exc.args[0]} timeline entries")
        except FellBehind:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "the stream fell behind the case's changes: resume from the last position received")
        finally:
            await updates.aclose()

    async def WithdrawCase(self, request: intake_pb2.WithdrawCaseRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter")
        if not request.case_id:
            await context.abort_with_status(field_violations(("case_id", "is required")))
        try:
            case = await usecases.withdraw_case(self._transact, self._audit, self._changes, self._clock, principal,
                                                request.case_id, request.reason, request.note)
        except InvalidInput as exc:
            await context.abort_with_status(field_violations(*exc.violations))
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        except NotWithdrawable as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"case_id: {exc}")
        except usecases.WithdrawalContended:
            await context.abort(grpc.StatusCode.ABORTED, "the case kept changing while it was withdrawn: try again")
        return case_message(case)

    async def AddDocuments(self, request: intake_pb2.AddDocumentsRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter")
        if not request.case_id:
            await context.abort_with_status(field_violations(("case_id", "is required")))
        try:
            case, added, total = await usecases.add_documents(self._transact, self._audit, self._changes,
                                                              self._clock, principal, request.case_id,
                                                              request.attachments)
        except InvalidInput as exc:
            await context.abort_with_status(field_violations(*exc.violations))
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        except ClosedToDocuments as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"case_id: {exc}")
        except usecases.DocumentsContended:
            await context.abort(grpc.StatusCode.ABORTED, "the case's records kept changing: try again")
        return intake_pb2.AddDocumentsResponse(added=added, attachments_total=total, status=case.status)

"""intake's gRPC API: SubmitCase and GetCase."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import grpc
from pymongo.errors import DuplicateKeyError

from secondlook.auth import require_role
from secondlook.clock import utcnow
from secondlook.errors import field_violations
from secondlook.events import new_event, new_traceparent, trace_id_of
from secondlook.logging import bound_contextvars, get_logger
from secondlook.settings import Settings
from secondlook.store import Store, UnitOfWork
from secondlook.v1 import case_pb2, events_pb2, intake_pb2, intake_pb2_grpc

from . import repository
from .domain.lifecycle import apply_event
from .domain.submission import validate

log = get_logger(__name__)


def _case_message(doc: dict) -> intake_pb2.Case:
    msg = intake_pb2.Case(
        case_id=doc["_id"],
        tenant_id=doc["tenant_id"],
        client_request_id=doc["client_request_id"],
        status=doc["status"],
        diagnosis_code=doc["diagnosis_code"],
        urgency=doc["urgency"],
        jurisdiction=doc["jurisdiction"],
        language=doc["language"],
        specialist_id=doc.get("specialist_id", ""),
    )
    msg.submitted_at.FromDatetime(doc["submitted_at"])
    msg.updated_at.FromDatetime(doc["updated_at"])
    for e in sorted(doc.get("timeline", []), key=lambda e: (e["occurred_at"], e["status"])):
        entry = msg.timeline.add(
            status=e["status"], event_type=e["event_type"], event_id=e["event_id"], producer=e["producer"]
        )
        entry.occurred_at.FromDatetime(e["occurred_at"])
        entry.recorded_at.FromDatetime(e["recorded_at"])
    return msg


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, store: Store, settings: Settings):
        self._store = store
        self._settings = settings

    async def SubmitCase(self, request: intake_pb2.SubmitCaseRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter")
        valid, violations = validate(request, utcnow())
        if valid is None:
            await context.abort_with_status(field_violations(*violations))
            return
        fingerprint = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
        incoming = dict(context.invocation_metadata() or ())
        traceparent = incoming.get("traceparent") or new_traceparent()
        case_id = str(uuid.uuid4())

        async def submit(uow: UnitOfWork) -> tuple[dict, bool]:
            existing = await repository.find_by_request_id(uow, principal.tenant, valid.client_request_id)
            if existing is not None:
                return existing, False
            now = utcnow()
            event = new_event(
                events_pb2.CaseSubmitted(
                    diagnosis_code=valid.diagnosis_code,
                    urgency=valid.urgency,
                    jurisdiction=valid.jurisdiction,
                    language=valid.language,
                ),
                case_id=case_id,
                tenant_id=principal.tenant,
                producer="intake",
                traceparent=traceparent,
                occurred_at=now,
            )
            step = apply_event(
                case_pb2.CASE_STATUS_UNSPECIFIED, set(), event_type=event.type, event_id=event.event_id,
                producer="intake", occurred_at=now, now=now,
            )
            doc = {
                "_id": case_id,
                "tenant_id": principal.tenant,
                "client_request_id": valid.client_request_id,
                "request_sha256": fingerprint,
                "submitted_by": principal.subject,
                "status": step.status,
                "diagnosis_code": valid.diagnosis_code,
                "urgency": valid.urgency,
                "jurisdiction": valid.jurisdiction,
                "language": valid.language,
                # PHI: stays in intake's store, never in events, logs or metrics.
                "patient": {
                    "given_name": valid.given_name,
                    "family_name": valid.family_name,
                    "birth_date": valid.birth_date,
                },
                "proposed_treatment": request.proposed_treatment.strip(),
                "consent": {"granted": True, "granted_at": valid.consent_granted_at},
                "traceparent": traceparent,
                "submitted_at": now,
                "updated_at": now,
                "timeline": [repository.entry_doc(step.entry)],
                "seen_event_ids": [event.event_id],
                "redrives": 0,
                "next_redrive_at": now + timedelta(seconds=self._settings.sweeper_stuck_after_seconds),
            }
            await repository.insert(uow, doc)
            uow.emit(event)
            return doc, True

        with bound_contextvars(case_id=case_id, trace_id=trace_id_of(traceparent)):
            try:
                doc, created = await self._store.transact(submit)
            except DuplicateKeyError:  # a concurrent submit with the same key won the race
                doc = await self._store.db[repository.CASES].find_one(
                    {"tenant_id": principal.tenant, "client_request_id": valid.client_request_id}
                )
                created = False
            if not created and doc.get("request_sha256") != fingerprint:
                await context.abort(
                    grpc.StatusCode.ALREADY_EXISTS,
                    "client_request_id: already used for a different submission in this tenant",
                )
            if created:
                log.info("case_submitted")
        return intake_pb2.SubmitCaseResponse(case_id=doc["_id"], status=doc["status"], created=created)

    async def GetCase(self, request: intake_pb2.GetCaseRequest, context: grpc.aio.ServicerContext):
        principal = await require_role(context, "submitter")
        if not request.case_id:
            await context.abort_with_status(field_violations(("case_id", "is required")))
        doc = await repository.get_for_tenant(self._store.db, request.case_id, principal.tenant)
        if doc is None:
            # Another tenant's case is indistinguishable from a missing one.
            await context.abort(grpc.StatusCode.NOT_FOUND, f"case_id: no case {request.case_id[:64]!r}")
        return _case_message(doc)

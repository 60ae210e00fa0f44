"""intake's FHIR R4 entry point over HTTP, beside the gRPC API: the FHIR twin of
SubmitCase and of a status read, with the same bearer tokens.

  POST /fhir, POST /fhir/Bundle   a transaction Bundle (services/intake/fhir/translate.py)
                                  -> the SubmitCase use case. 201 with a transaction-response
                                  and Location; 200 for a repeat of the same request
  GET /fhir/ServiceRequest/{id}   the case's status as a ServiceRequest (no PHI: not audited)
  GET /fhir/metadata              the CapabilityStatement (public)

Every refusal is an OperationOutcome, never a 5xx for what a client sent:
401 no or bad token (code login, WWW-Authenticate: Bearer), 403 wrong role
(forbidden), 404 no such case or another tenant's (not-found), 409 the request's
identifier was used for a different submission in this tenant (duplicate),
413 body over `MAX_BODY` (too-costly: records go by reference, the bundle stays
small), 415 not JSON (not-supported), 400 not a valid R4 Bundle (structure),
422 a valid Bundle that breaks the platform's rules (nothing is stored).
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from secondlook.auth import AuthError, Principal, TokenVerifier
from secondlook.clock import Clock
from secondlook.events import new_traceparent, trace_id_of
from secondlook.fhir.problems import DUPLICATE, Problem
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact

from . import usecases
from .fhir import responses
from .fhir.outcome import operation_outcome, outcome_of, to_json
from .fhir.submission import UNPROCESSABLE, Refusal, explain, read_submission
from .repository import CaseReader

log = get_logger(__name__)

MAX_BODY = 1024 * 1024  # a case carries its records by reference
FHIR_JSON = "application/fhir+json"
_JSON_TYPES = frozenset({FHIR_JSON, "application/json"})
MAX_BODY_KEY = web.AppKey("fhir_max_body", int)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR's id type


def _fhir(status: int, resource: dict, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, body=to_json(resource), content_type=FHIR_JSON, charset="utf-8",
                        headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, code: str, diagnostics: str, headers: dict | None = None):
        super().__init__(diagnostics)
        self.response = _fhir(status, outcome_of(code, diagnostics), headers)


_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


@web.middleware
async def _outcomes(request: web.Request, handler):
    """aiohttp's own refusals (unknown path, body too large, ...) as OperationOutcomes."""
    try:
        return await handler(request)
    except _Refused as refused:
        return refused.response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            diagnostics = (f"the body is over {request.app[MAX_BODY_KEY]} bytes: records are sent by reference, "
                           "not inline")
        else:
            diagnostics = exc.reason
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return _fhir(exc.status, outcome_of(_HTTP_CODES.get(exc.status, "processing"), diagnostics), headers)


class FhirApi:
    def __init__(self, transact: Transact, reader: CaseReader, audit: usecases.AuditTrail, clock: Clock,
                 verifier: TokenVerifier, stuck_after: float):
        self._transact = transact
        self._reader = reader
        self._audit = audit
        self._clock = clock
        self._verifier = verifier
        self._stuck_after = stuck_after

    def _principal(self, request: web.Request, *roles: str) -> Principal:
        try:
            principal = self._verifier.verify(request.headers.get("Authorization"))
        except AuthError as exc:
            raise _Refused(401, "login", str(exc), {"WWW-Authenticate": 'Bearer realm="secondlook"'}) from None
        if not any(principal.has(r) for r in roles):
            raise _Refused(403, "forbidden", f"this needs role {' or '.join(repr(r) for r in roles)}")
        return principal

    async def submit(self, request: web.Request) -> web.Response:
        principal = self._principal(request, "submitter")
        if request.content_type not in _JSON_TYPES:
            raise _Refused(415, "not-supported", f"send the Bundle as {FHIR_JSON}")
        body = await request.read()  # over client_max_size: 413, as an OperationOutcome (middleware)
        traceparent = request.headers.get("traceparent") or new_traceparent()
        with bound_contextvars(trace_id=trace_id_of(traceparent)):
            # Model validation is pure Python: off the event loop, which also serves gRPC and events.
            read = await asyncio.to_thread(read_submission, body, self._clock.now())
            if isinstance(read, Refusal):
                log.info("fhir_bundle_refused", status=read.status, issues=len(read.problems))
                return _fhir(read.status, operation_outcome(read.problems))
            try:
                case, created = await usecases.submit_case(
                    self._transact, self._reader, self._audit, self._clock, read.request, principal=principal,
                    traceparent=traceparent, stuck_after=self._stuck_after,
                )
            except usecases.InvalidSubmission as exc:
                problems = explain(read, exc.violations)
                log.info("fhir_bundle_refused", status=UNPROCESSABLE, issues=len(problems))
                return _fhir(UNPROCESSABLE, operation_outcome(problems))
            except usecases.KeyReused:
                return _fhir(409, operation_outcome([Problem(
                    read.locate("client_request_id"), "client_request_id: already used for a different submission "
                                                      "in this tenant", DUPLICATE)]))
        location = responses.location(case)
        headers = {"Location": str(request.url.with_path(f"/fhir/{location}").with_query(None)),
                   "ETag": f'W/"{responses.VERSION}"'}
        return _fhir(201 if created else 200, responses.transaction_response(read.bundle, case, created), headers)

    async def read_service_request(self, request: web.Request) -> web.Response:
        principal = self._principal(request, "submitter", "operator")
        case_id = request.match_info["id"]
        # The status only (no content is read): nothing to record in the access audit.
        case = await usecases.case_status(self._reader, principal, case_id) if _ID.match(case_id) else None
        if case is None:  # another tenant's case is indistinguishable from a missing one
            raise _Refused(404, "not-found", f"no ServiceRequest {case_id[:64]!r}")
        return _fhir(200, responses.service_request(case), {"ETag": f'W/"{responses.VERSION}"'})

    async def metadata(self, request: web.Request) -> web.Response:
        return _fhir(200, responses.capability_statement(self._clock.now().date().isoformat()))


def make_fhir_app(transact: Transact, reader: CaseReader, audit: usecases.AuditTrail, clock: Clock,
                  verifier: TokenVerifier, stuck_after: float, *, max_body: int = MAX_BODY) -> web.Application:
    api = FhirApi(transact, reader, audit, clock, verifier, stuck_after)
    app = web.Application(client_max_size=max_body, middlewares=[_outcomes])
    app[MAX_BODY_KEY] = max_body
    app.add_routes([
        web.post("/fhir", api.submit),
        web.post("/fhir/Bundle", api.submit),
        web.get("/fhir/ServiceRequest/{id}", api.read_service_request),
        web.get("/fhir/metadata", api.metadata),
    ])
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serves the app until cancelled (the service's shutdown), then closes its connections."""
    runner = web.AppRunner(app, access_log=None)  # no access log: URLs carry case ids, bodies PHI
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, shutdown_timeout=5).start()
        log.info("fhir_endpoint_listening", port=port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()

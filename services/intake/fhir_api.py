"""intake's FHIR R4 entry point over HTTP, beside the gRPC API: the FHIR twin of
SubmitCase and of a status read, with the same bearer tokens.

  POST /fhir, POST /fhir/Bundle   a transaction Bundle (services/intake/fhir/translate.py)
                                  -> the SubmitCase use case. 201 with a transaction-response
                                  and Location; 200 for a repeat of the same request
  POST /fhir/Claim/$submit        a Da Vinci PAS request Bundle (services/intake/fhir/pas.py) -> a
                                  PRIOR_AUTH case; 200 with a PAS response Bundle, every item pended
  POST /fhir/Claim/$inquire       a PAS inquiry Bundle -> the request's current response Bundle
  GET /fhir/ServiceRequest/{id}   the case's status as a ServiceRequest (no PHI: not audited)
  GET /fhir/metadata              the CapabilityStatement (public)

Every refusal is an OperationOutcome, never a 5xx for what a client sent:
401 no or bad token (code login, WWW-Authenticate: Bearer), 403 wrong role
(forbidden), 404 no such case or another tenant's (not-found), 409 the request's
identifier was used for a different submission in this tenant (duplicate),
413 body over `MAX_BODY` (too-costly: records go by reference, the bundle stays
small), 415 not JSON or not R4 (not-supported), 406 a client that accepts no FHIR JSON R4
(not-supported, before anything is done), 400 not a valid R4 Bundle (structure),
422 a valid Bundle that breaks the platform's rules (nothing is stored).
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from datetime import datetime, timezone
from email.utils import format_datetime

from aiohttp import web

from secondlook import failures, metrics
from secondlook.auth import AuthError, Principal, TokenVerifier
from secondlook.clock import Clock
from secondlook.events import new_traceparent, trace_id_of
from secondlook.fhir.bundle import read_bundle
from secondlook.fhir.problems import DUPLICATE, VALUE, Problem
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact

from . import usecases
from .fhir import pas, responses
from .fhir.claimresponse import claim_response_of
from .fhir.outcome import operation_outcome, outcome_of, to_json
from .fhir.submission import BAD_REQUEST, UNPROCESSABLE, Refusal, explain, read_submission
from .repository import CaseReader

log = get_logger(__name__)

MAX_BODY = 1024 * 1024  # a case carries its records by reference
FHIR_JSON = "application/fhir+json"
_JSON_TYPES = frozenset({FHIR_JSON, "application/json"})
MAX_BODY_KEY = web.AppKey("fhir_max_body", int)
BODY_SECONDS = 30.0  # for a body to arrive whole once its headers have: a slow sender holds no handler longer
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR's id type


def _fhir(status: int, resource: dict, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, body=to_json(resource), content_type=FHIR_JSON, charset="utf-8",
                        headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, code: str, diagnostics: str, headers: dict | None = None, close: bool = False):
        super().__init__(diagnostics)
        self.response = _fhir(status, outcome_of(code, diagnostics), headers)
        if close:  # what the client sends next on this connection cannot be told from what it sent
            self.response.force_close()


_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


@web.middleware
async def _outcomes(request: web.Request, handler):
    """aiohttp's own refusals (unknown path, body too large, ...) and failures as
    OperationOutcomes: the store away is 503 `transient` (retry), anything else 500
    `exception` with the reference of its log line (secondlook.failures)."""
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
    except Exception as exc:
        if (told := failures.outage(exc)) is not None:
            return _fhir(503, outcome_of("transient", told), {"Retry-After": str(failures.RETRY_AFTER_SECONDS)})
        reference = failures.new_reference()
        resource = request.match_info.route.resource
        log.error("http_request_failed", route=resource.canonical if resource is not None else "unmatched",
                  error=type(exc).__name__, reference=reference, at=failures.where(exc))
        return _fhir(500, outcome_of("exception", failures.internal_error(reference)))


@web.middleware
async def _measured(request: web.Request, handler):
    """Requests and latency by route (its template, never a case id) and status code."""
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = f"{request.method} {resource.canonical}" if resource is not None else "unmatched"
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    except asyncio.CancelledError:
        code = 499  # the client went away first (nginx's code for it)
        raise
    finally:
        metrics.HTTP_REQUESTS.labels("intake", route, str(code)).inc()
        metrics.HTTP_LATENCY_SECONDS.labels("intake", route).observe(time.perf_counter() - started)


_FORMATS = frozenset({"json", *_JSON_TYPES})
_CREATIONS = frozenset({"/fhir", "/fhir/Bundle", "/fhir/Claim/$submit"})  # where Prefer: return= applies
_RANGES_ANSWERED = frozenset({*_JSON_TYPES, "*/*", "application/*"})


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    """An Accept header's ranges, (type, parameters), those of q=0 left out."""
    out = []
    for part in header.split(","):
        kind, *params = [p.strip() for p in part.split(";")]
        found = {k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in params)}
        if kind and _weight(found.get("q", "1")) > 0:
            out.append((kind.lower(), found))
    return out


def _weight(q: str) -> float:
    try:
        return float(q)
    except ValueError:
        return 1.0  # a malformed weight: the range is not refused for it


def _r4(params: dict[str, str]) -> bool:
    version = params.get("fhirversion", "4.0")
    return version == "4.0" or version.startswith("4.0.")


@web.middleware
async def _negotiated(request: web.Request, handler):
    """FHIR JSON R4 in and out, said before anything is done: a client that accepts only
    XML (`Accept`, `_format`) or another FHIR version is answered 406, a body of another
    version 415. `Prefer: return=minimal` answers a creation with its headers only,
    `return=OperationOutcome` with an outcome instead of the resource."""
    fmt = request.query.get("_format")
    if fmt is not None and fmt.lower() not in _FORMATS:
        raise _Refused(406, "not-supported", "this server answers FHIR JSON only: _format=json")
    accept = request.headers.get("Accept", "").strip()
    if fmt is None and accept and not any(kind in _RANGES_ANSWERED and _r4(params)
                                          for kind, params in _media_ranges(accept)):
        raise _Refused(406, "not-supported", f"this server answers {FHIR_JSON} (FHIR R4, fhirVersion=4.0) only; "
                                             "the Accept header allows none of it")
    sent = _media_ranges(request.headers.get("Content-Type", ""))
    if request.body_exists and sent and not _r4(sent[0][1]):
        raise _Refused(415, "not-supported", "this endpoint takes FHIR R4 (fhirVersion=4.0)")
    if request.body_exists and sent and sent[0][1].get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise _Refused(415, "not-supported", "send the body as UTF-8 (charset=utf-8), as FHIR JSON is")
    response = await handler(request)
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    creating = request.method == "POST" and response.status < 300 and request.path.rstrip("/") in _CREATIONS
    if creating and "return=minimal" in prefer:
        return web.Response(status=response.status, headers={k: v for k, v in response.headers.items()
                                                             if k in ("Location", "ETag", "Last-Modified")})
    if creating and "return=operationoutcome" in prefer:
        outcome = operation_outcome([Problem("", "created" if response.status == 201 else "done", "informational")])
        outcome["issue"][0]["severity"] = "information"
        return _fhir(response.status, outcome, {k: v for k, v in response.headers.items()
                                                if k in ("Location", "ETag", "Last-Modified")})
    return response


# Content codings a body may come in (RFC 9110 8.4.1): decoded here, not by aiohttp,
# so that another one, or a body that is not what its coding says, is answered as
# FHIR (415, 400) and a compressed body is held to the limit once decoded too.
_DECODERS = {"identity": None, "gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
             "deflate": zlib.MAX_WBITS}
_ACCEPTED_CODINGS = "gzip, deflate"


def _coding(request: web.Request) -> str:
    """The body's one content coding (415 for another, or for several)."""
    codings = [c.strip().lower() for c in request.headers.get("Content-Encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"] or ["identity"]
    if len(codings) > 1 or codings[0] not in _DECODERS:
        raise _Refused(415, "not-supported", f"Content-Encoding {', '.join(codings)!s} is not taken: send the body "
                                             f"as it is, or as one of {_ACCEPTED_CODINGS}",
                       {"Accept-Encoding": _ACCEPTED_CODINGS})
    return codings[0]


def _decoded(raw: bytes, coding: str, limit: int) -> bytes:
    """`raw` decoded from `coding`, at most `limit` bytes (413 past it, 400 when it is
    not what its coding says). deflate is the zlib format, or the raw one some send."""
    wbits = _DECODERS[coding]
    if wbits is None:
        return raw
    for bits in (wbits, -zlib.MAX_WBITS) if coding == "deflate" else (wbits,):
        decoder = zlib.decompressobj(bits)
        try:
            out = decoder.decompress(raw, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(out))
        if not decoder.eof or decoder.unused_data:
            raise _Refused(400, "structure", f"the body is not one whole {coding} stream (Content-Encoding)")
        return out
    raise _Refused(400, "structure", f"the body is not {coding} data, as its Content-Encoding says")


async def _body(request: web.Request) -> bytes:
    """The request's body, decoded: refused at once (413) when its declared length is over
    the limit, (408) when it has not arrived whole within BODY_SECONDS, and (415, 400)
    in a content coding not taken, or not what it says."""
    limit = request.app[MAX_BODY_KEY]
    coding = _coding(request)
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    try:
        raw = await asyncio.wait_for(request.read(), BODY_SECONDS)  # over the limit as sent: 413 too
    except TimeoutError:
        raise _Refused(408, "timeout", f"the body did not arrive within {BODY_SECONDS:g} s", close=True) from None
    return _decoded(raw, coding, limit)


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
            principal = self._verifier.verify(request.headers.getall("Authorization", []), "header")
        except AuthError as exc:
            raise _Refused(401, "login", str(exc), {"WWW-Authenticate": 'Bearer realm="secondlook"'}) from None
        if not any(principal.has(r) for r in roles):
            raise _Refused(403, "forbidden", f"this needs role {' or '.join(repr(r) for r in roles)}")
        return principal

    async def submit(self, request: web.Request) -> web.Response:
        principal = self._principal(request, "submitter")
        if request.content_type not in _JSON_TYPES:
            raise _Refused(415, "not-supported", f"send the Bundle as {FHIR_JSON}")
        body = await _body(request)  # 413 and 408 as OperationOutcomes
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
        headers = {"Location": _url(request, responses.location(case)), "ETag": f'W/"{responses.version(case)}"',
                   "Last-Modified": _http_date(case.updated_at)}
        return _fhir(201 if created else 200, responses.transaction_response(read.bundle, case, created), headers)

    async def _bundle(self, request: web.Request, expected: str) -> tuple[dict | None, web.Response | None]:
        """The posted Bundle as JSON, or the refusal (415 not JSON, 400 not an R4 Bundle)."""
        if request.content_type not in _JSON_TYPES:
            raise _Refused(415, "not-supported", f"send the Bundle as {FHIR_JSON}")
        body = await _body(request)
        bundle, problems = await asyncio.to_thread(read_bundle, body, expected)
        if bundle is None:
            return None, _fhir(BAD_REQUEST, operation_outcome(problems))
        return bundle, None

    async def submit_prior_auth(self, request: web.Request) -> web.Response:
        """Claim/$submit: a PAS request Bundle becomes a PRIOR_AUTH case; the answer is a
        PAS response Bundle with every item pended (A4) under the case id. 200 for a new
        request and for a repeat of the same one (its transaction id and content)."""
        principal = self._principal(request, "submitter")
        traceparent = request.headers.get("traceparent") or new_traceparent()
        with bound_contextvars(trace_id=trace_id_of(traceparent)):
            bundle, refused = await self._bundle(request, "POST /fhir/Claim/$submit takes a PAS request Bundle")
            if refused is not None:
                return refused
            now = self._clock.now()
            read = await asyncio.to_thread(pas.translate_pas, bundle, today=now.date(), now=now)
            if read.request is None:
                log.info("pas_request_refused", issues=len(read.problems))
                return _fhir(UNPROCESSABLE, operation_outcome(read.problems))
            try:
                case, created = await usecases.submit_prior_auth(
                    self._transact, self._reader, self._audit, self._clock, read.request, principal=principal,
                    traceparent=traceparent, stuck_after=self._stuck_after, submission_system=read.submission_system)
            except usecases.InvalidSubmission as exc:
                # An identifier's value is the element itself; elsewhere (a name with family
                # and given parts) the rule names the part it is about.
                problems = [Problem(read.locate(path), rule if read.locate(path).endswith(".value")
                                    else f"{path}: {rule}", VALUE) for path, rule in exc.violations]
                log.info("pas_request_refused", issues=len(problems))
                return _fhir(UNPROCESSABLE, operation_outcome(problems))
            except usecases.KeyReused:
                return _fhir(409, operation_outcome([Problem(
                    "Bundle.identifier.value", "already used for a different request in this tenant: a "
                                               "resubmission repeats the request it names", DUPLICATE)]))
        log.info("pas_request_received", created=created, notes=len(read.notes))
        # A resubmission's case is the request as it stands now (decided, perhaps); its
        # request is the stored one (the same content, or it was refused above).
        return _fhir(200, claim_response_of(case, read.request)[0],
                     {"Location": _url(request, f"ServiceRequest/{case.case_id}")})

    async def inquire_prior_auth(self, request: web.Request) -> web.Response:
        """Claim/$inquire: the current ClaimResponse of a request of the caller's tenant,
        found by the submitter's trace number and the patient's member id."""
        principal = self._principal(request, "submitter")
        bundle, refused = await self._bundle(request, "POST /fhir/Claim/$inquire takes a PAS inquiry Bundle")
        if refused is not None:
            return refused
        inquiry = await asyncio.to_thread(pas.read_inquiry, bundle)
        if isinstance(inquiry, list):
            return _fhir(UNPROCESSABLE, operation_outcome(inquiry))
        case = await usecases.prior_auth_request(self._reader, self._audit, self._clock, principal,
                                                 inquiry.identifiers, inquiry.member_id, inquiry.system)
        if case is None:  # another tenant's request is indistinguishable from a missing one
            raise _Refused(404, "not-found", "no prior-authorization request of this tenant has this trace "
                                             "number or transaction id (under this system, when one is given) "
                                             "for this member")
        return _fhir(200, claim_response_of(case)[0])

    async def read_service_request(self, request: web.Request) -> web.Response:
        principal = self._principal(request, "submitter", "operator")
        case_id = request.match_info["id"]
        # The status only (no content is read): nothing to record in the access audit.
        case = await usecases.case_status(self._reader, principal, case_id) if _ID.match(case_id) else None
        if case is None:  # another tenant's case is indistinguishable from a missing one
            raise _Refused(404, "not-found", f"no ServiceRequest {case_id[:64]!r}")
        current = int(responses.version(case))
        asked = request.match_info.get("version")
        if asked is not None and not (asked.isascii() and asked.isdigit() and len(asked) <= 9
                                       and 1 <= int(asked) <= current):
            raise _Refused(404, "not-found", f"ServiceRequest {case_id!r} has versions 1 to {current}, "
                                             f"not {asked[:12]!r}")
        at = int(asked) if asked is not None else current
        resource = responses.service_request(case, at)
        updated = datetime.fromisoformat(resource["meta"]["lastUpdated"].replace("Z", "+00:00"))
        return _fhir(200, resource, {"ETag": f'W/"{at}"', "Last-Modified": _http_date(updated)})

    async def metadata(self, request: web.Request) -> web.Response:
        return _fhir(200, responses.capability_statement(self._clock.now().date().isoformat()))


BASE_URL_KEY = web.AppKey("fhir_base_url", str)
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _url(request: web.Request, path: str) -> str:
    """Where `path` ("ServiceRequest/...") is: under the configured public base URL
    (behind a proxy, the address clients use), else under the one the request was sent
    to; relative when its Host header names no host (it must not write the Location)."""
    base = request.app[BASE_URL_KEY]
    if base:
        return f"{base}/{path}"
    if not _HOST.match(request.host):
        return f"/fhir/{path}"
    return str(request.url.with_path(f"/fhir/{path}").with_query(None))


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


async def _unnamed(request: web.Request, response: web.StreamResponse) -> None:
    """No `Server` header: the Python and aiohttp versions are nobody's business."""
    response.headers.pop("Server", None)


def make_fhir_app(transact: Transact, reader: CaseReader, audit: usecases.AuditTrail, clock: Clock,
                  verifier: TokenVerifier, stuck_after: float, *, max_body: int = MAX_BODY,
                  base_url: str = "") -> web.Application:
    api = FhirApi(transact, reader, audit, clock, verifier, stuck_after)
    # A path with a trailing slash is redirected (308: method and body kept) to the one without.
    slashes = web.normalize_path_middleware(append_slash=False, remove_slash=True)
    app = web.Application(client_max_size=max_body, middlewares=[_measured, _outcomes, slashes, _negotiated],
                          handler_args={"auto_decompress": False})  # _body decodes
    app[MAX_BODY_KEY] = max_body
    app[BASE_URL_KEY] = base_url.rstrip("/")
    app.on_response_prepare.append(_unnamed)
    app.add_routes([
        web.post("/fhir", api.submit),
        web.post("/fhir/Bundle", api.submit),
        web.post("/fhir/Claim/$submit", api.submit_prior_auth),
        web.post("/fhir/Claim/$inquire", api.inquire_prior_auth),
        web.get("/fhir/ServiceRequest/{id}", api.read_service_request),
        web.get("/fhir/ServiceRequest/{id}/_history/{version}", api.read_service_request),
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

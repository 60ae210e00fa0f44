"""Bearer-token authentication for every gRPC method, and development tokens.

Tokens are JWTs with OIDC-style claims: `sub` (unique user identity), `tenant`,
`roles`, and `specialist_id` for reviewers. HS256 with a shared key here;
an OIDC provider's RS256 keys slot into `TokenVerifier` the same way.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import jwt

from secondlook.edge import nfc_json, text_problem
from secondlook.settings import Settings

# Probes and tooling must work without a token: nothing on these reveals data.
PUBLIC_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

# "case-reader" is a service's (review's), never a person's: it reads a case for the
# reviewer its assignment names. "contact-reader" is notify's: a case's contact
# details (intake) or a reviewer's (matching), read at send time for one notice.
ROLES = ("submitter", "reviewer", "tenant-admin", "operator", "directory-admin", "case-reader", "contact-reader")
VERIFIED_KEPT = 10_000  # tokens remembered as verified


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    roles: frozenset[str]
    specialist_id: str = ""
    # An operator's reach beyond its own tenant (claim "tenants").
    granted_tenants: frozenset[str] = frozenset()
    # When the token that named the caller expires (claim "exp", seconds since the epoch).
    expires_at: float = field(default=float("inf"), compare=False)

    def has(self, role: str) -> bool:
        return role in self.roles

    def readable_tenants(self) -> frozenset[str]:
        """Whose cases this caller may read: a submitter its own tenant's, an operator
        also every tenant its token grants."""
        if "operator" in self.roles:
            return frozenset({self.tenant}) | self.granted_tenants
        return frozenset({self.tenant}) if "submitter" in self.roles else frozenset()


CLOCK_LEEWAY_SECONDS = 30
MAX_CLAIM_CHARS = 256  # of a claim naming the caller (sub, tenant, a role, ...)
MAX_TOKEN_LIFETIME_SECONDS = 366 * 24 * 3600  # from now: longer-lived tokens are refused


class AuthError(Exception):
    pass


class TokenVerifier:
    def __init__(self, settings: Settings):
        secret = settings.jwt_secret.get_secret_value()
        if not secret:
            raise ValueError("SECONDLOOK_JWT_SECRET is not set: every gRPC call needs it to verify tokens")
        self._secret = secret
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()  # token -> (caller, expiry)

    def verify(self, given: list[str], carrier: str = "metadata") -> Principal:
        """The caller the bearer token of the one `authorization` entry `given` names
        (AuthError if it is missing, invalid or expired, or given more than once: a
        gateway that read the first would have let another caller through). `carrier`
        says where a client sends it: gRPC "metadata", an HTTP "header". A token
        verified before is not checked again until it expires: a client sends the same
        one with every call, and the signature check is most of what a call costs here."""
        if len(given) > 1:
            raise AuthError(f"send one 'authorization: Bearer <token>' {carrier}, not {len(given)}")
        authorization = given[0] if given else None
        if authorization:
            known = self._verified.get(authorization)
            if known is not None:
                principal, expires = known
                if time.time() < expires:
                    self._verified.move_to_end(authorization)
                    return principal
                del self._verified[authorization]
        principal, expires = self._verify(authorization, carrier)
        if len(self._verified) >= VERIFIED_KEPT:
            self._verified.popitem(last=False)  # the least recently used
        self._verified[authorization] = (principal, expires)
        return principal

    def _verify(self, authorization: str | None, carrier: str) -> tuple[Principal, float]:
        if not authorization:
            raise AuthError(f"missing 'authorization: Bearer <token>' {carrier}")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError(f"the authorization {carrier} must be 'Bearer <token>'")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "exp", "iss", "aud"]},
                # An identity provider's clock a little ahead must not make a fresh token
                # "not yet valid" (iat, nbf); expiry is given the same grace.
                leeway=CLOCK_LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        try:
            expires = float(claims["exp"])  # PyJWT takes "123" and 10**400 too
        except (OverflowError, ValueError, TypeError):
            raise AuthError("invalid token: claim 'exp' must be a time in seconds since the epoch") from None
        if expires > time.time() + MAX_TOKEN_LIFETIME_SECONDS:  # a token that never expires cannot be taken back
            raise AuthError("invalid token: claim 'exp' is more than a year away")
        claims = _in_normal_form(claims)
        tenant = claims.get("tenant")
        roles = claims.get("roles")
        if not isinstance(tenant, str) or not tenant:
            raise AuthError("invalid token: claim 'tenant' is required, a non-empty string")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise AuthError("invalid token: claim 'roles' must be a list of strings")
        granted = claims.get("tenants", [])
        if not isinstance(granted, list) or not all(isinstance(t, str) and t for t in granted):
            raise AuthError("invalid token: claim 'tenants' must be a list of tenant ids")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise AuthError("invalid token: claim 'sub' must be a non-empty string")
        specialist_id = claims.get("specialist_id", "")
        if not isinstance(specialist_id, str):
            raise AuthError("invalid token: claim 'specialist_id' must be a string")
        # What names the caller goes into audit records, logs and the operators' tables:
        # printable and bounded, as every text a request carries.
        for name, value in (("sub", claims["sub"]), ("tenant", tenant), ("specialist_id", specialist_id),
                            *(("roles", r) for r in roles), *(("tenants", t) for t in granted)):
            if len(value) > MAX_CLAIM_CHARS:
                raise AuthError(f"invalid token: claim {name!r} must be at most {MAX_CLAIM_CHARS} characters")
            if text_problem(value, prose=False):
                raise AuthError(f"invalid token: claim {name!r} must be printable text")
        return Principal(
            subject=claims["sub"],
            tenant=tenant,
            roles=frozenset(roles),
            specialist_id=specialist_id,
            granted_tenants=frozenset(granted),
            expires_at=expires + CLOCK_LEEWAY_SECONDS,  # as long as it is accepted: a stream opened in the leeway runs
        ), expires


def _in_normal_form(claims: dict) -> dict:
    """The claims with every text in normal form C, as every request's texts are
    (secondlook.edge.nfc): a tenant spelled with a precomposed é and one with a
    combining accent are one tenant, whichever an identity provider wrote."""
    return {name: nfc_json(value) for name, value in claims.items()}


def mint_token(
    settings: Settings,
    *,
    subject: str,
    tenant: str,
    roles: list[str],
    specialist_id: str = "",
    tenants: list[str] | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """A development token signed with the configured key."""
    secret = settings.jwt_secret.get_secret_value()
    if not secret:
        raise ValueError("SECONDLOOK_JWT_SECRET is not set")
    now = int(time.time())
    claims = {
        "sub": subject,
        "tenant": tenant,
        "roles": roles,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    if specialist_id:
        claims["specialist_id"] = specialist_id
    if tenants:
        claims["tenants"] = tenants
    return jwt.encode(claims, secret, algorithm="HS256")


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:  # only reachable if a servicer is served without the interceptor
        raise RuntimeError("no authenticated principal in this context")
    return principal


async def require_role(context: grpc.aio.ServicerContext, role: str, *others: str) -> Principal:
    """The caller, if it holds `role` (or one of `others`)."""
    principal = current_principal()
    if not any(principal.has(r) for r in (role, *others)):
        needed = " or ".join(f"'{r}'" for r in (role, *others))
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"this call needs role {needed}")
    return principal


class OpenStreams:
    """How many server streams each caller holds open on this replica, capped: an idle
    stream costs the replica a task and a queue, and one token must not hold thousands."""

    def __init__(self, per_caller: int):
        self.per_caller = per_caller
        self._open: dict[tuple[str, str], int] = {}

    def take(self, principal: Principal) -> bool:
        caller = (principal.tenant, principal.subject)
        held = self._open.get(caller, 0)
        if held >= self.per_caller:
            return False
        self._open[caller] = held + 1
        return True

    def give_back(self, principal: Principal) -> None:
        caller = (principal.tenant, principal.subject)
        held = self._open.get(caller, 0) - 1
        if held > 0:
            self._open[caller] = held
        else:
            self._open.pop(caller, None)

    def held(self, principal: Principal) -> int:
        return self._open.get((principal.tenant, principal.subject), 0)


def _wrap(handler: grpc.RpcMethodHandler, principal: Principal | None, error: str | None,
          streams: OpenStreams | None = None):
    """Returns a handler that refuses (error set, or a caller already holding all its
    streams) or runs with the principal bound."""

    def bind(behaviour, streaming_response: bool):
        if streaming_response:

            async def stream(request, context):
                if error:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, error)
                if streams is not None and not streams.take(principal):
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                        f"this caller already holds {streams.per_caller} open streams on this "
                                        "replica (SECONDLOOK_GRPC_MAX_STREAMS_PER_CALLER): close one first")
                items = behaviour(request, context)
                ended = False

                def end(_call=None) -> None:
                    """Once, however the call ends: a client whose connection dropped while
                    a message was being sent leaves this generator suspended, never closed."""
                    nonlocal ended
                    if ended:
                        return
                    ended = True
                    if streams is not None:
                        streams.give_back(principal)
                    asyncio.get_running_loop().create_task(_closed(items))  # its watchers unsubscribe

                context.add_done_callback(end)
                token = _current.set(principal)
                try:
                    async for item in items:
                        yield item
                finally:
                    _current.reset(token)
                    end()

            return stream

        async def unary(request, context):
            if error:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, error)
            token = _current.set(principal)
            try:
                return await behaviour(request, context)
            finally:
                _current.reset(token)

        return unary

    kwargs = dict(
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(bind(handler.unary_unary, False), **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(bind(handler.unary_stream, True), **kwargs)
    raise NotImplementedError("client-streaming methods are not used by secondlook")


async def _closed(items: AsyncIterator) -> None:
    try:
        await items.aclose()
    except RuntimeError:  # still running: it ends by itself, its finally included
        pass


class TokenExpired(Exception):
    """The token a stream was opened with expired while it was open."""


async def while_token_valid(items: AsyncIterator, principal: Principal) -> AsyncIterator:
    """`items` until the token that opened the stream expires (then TokenExpired):
    short-lived tokens are how access is taken back, so a stream held open does not
    outlive its token. `items` is closed either way."""
    try:
        while True:
            remaining = principal.expires_at - time.time()
            if remaining <= 0:
                raise TokenExpired()
            try:
                item = await asyncio.wait_for(anext(items), remaining if remaining < 1e9 else None)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if time.time() < principal.expires_at:
                    raise  # the stream's own, not the token's
                raise TokenExpired() from None
            yield item
    finally:
        await items.aclose()


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier, streams: OpenStreams | None = None):
        self._verifier = verifier
        self.streams = streams

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        given = [v for k, v in (handler_call_details.invocation_metadata or ()) if k == "authorization"]
        try:
            principal = self._verifier.verify(given)
        except AuthError as exc:
            return _wrap(handler, None, str(exc))
        return _wrap(handler, principal, None, self.streams)

import asyncio
import time
from types import SimpleNamespace

import grpc
import jwt
import pytest

from secondlook.auth import (
    AuthError,
    AuthInterceptor,
    OpenStreams,
    Principal,
    TokenExpired,
    TokenVerifier,
    mint_token,
    while_token_valid,
)
from secondlook.settings import Settings
from tests.conftest import eventually


def test_a_minted_token_verifies_to_its_principal(settings):
    token = mint_token(settings, subject="dr-a", tenant="t1", roles=["reviewer"], specialist_id="spec-001")
    principal = TokenVerifier(settings).verify([f"Bearer {token}"])
    assert principal.subject == "dr-a" and principal.tenant == "t1"
    assert principal.has("reviewer") and not principal.has("submitter")
    assert principal.specialist_id == "spec-001"


@pytest.mark.parametrize("given, message", [
    ([], "missing"),
    ([""], "missing"),
    (["Token abc"], "Bearer"),
    (["Bearer "], "Bearer"),
    (["Bearer abc.def.ghi"], "invalid token"),
])
def test_malformed_authorization_is_refused(settings, given, message):
    with pytest.raises(AuthError, match=message):
        TokenVerifier(settings).verify(given)


def test_two_authorizations_are_refused_whichever_is_valid(settings):
    # A gateway that checked the first one would have let the second caller through.
    valid = "Bearer " + mint_token(settings, subject="a", tenant="t1", roles=["submitter"])
    other = "Bearer " + mint_token(settings, subject="b", tenant="t2", roles=["submitter"])
    verifier = TokenVerifier(settings)
    for given in ([valid, other], ["Bearer junk", valid], [valid, valid]):
        with pytest.raises(AuthError, match="send one 'authorization: Bearer <token>' header, not 2"):
            verifier.verify(given, "header")
    assert verifier.verify([valid]).subject == "a"


def test_expired_wrong_key_and_wrong_audience_are_refused(settings):
    verifier = TokenVerifier(settings)
    expired = mint_token(settings, subject="a", tenant="t", roles=["submitter"], ttl_seconds=-60)  # past the leeway
    with pytest.raises(AuthError, match="expired"):
        verifier.verify([f"Bearer {expired}"])
    other = Settings(jwt_secret="another-key-another-key-another-key-0000")
    with pytest.raises(AuthError, match="Signature"):
        verifier.verify(["Bearer " + mint_token(other, subject="a", tenant="t", roles=["submitter"])])
    foreign = Settings(jwt_secret=settings.jwt_secret, jwt_audience="someone-else")
    with pytest.raises(AuthError, match="Audience"):
        verifier.verify(["Bearer " + mint_token(foreign, subject="a", tenant="t", roles=["submitter"])])


def test_tenant_and_roles_claims_are_required(settings):
    now = int(time.time())
    base = {"sub": "a", "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "exp": now + 60}
    key = settings.jwt_secret.get_secret_value()
    verifier = TokenVerifier(settings)
    with pytest.raises(AuthError, match="tenant"):
        verifier.verify(["Bearer " + jwt.encode({**base, "roles": ["submitter"]}, key, algorithm="HS256")])
    with pytest.raises(AuthError, match="roles"):
        verifier.verify(["Bearer " + jwt.encode({**base, "tenant": "t", "roles": "submitter"}, key, algorithm="HS256")])


def test_a_token_from_a_clock_a_little_ahead_is_valid_and_one_far_ahead_is_not(settings):
    now = int(time.time())
    key = settings.jwt_secret.get_secret_value()
    verifier = TokenVerifier(settings)

    def token(ahead: int) -> str:
        return "Bearer " + jwt.encode({"sub": f"a{ahead}", "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
                                       "exp": now + 600, "iat": now + ahead, "nbf": now + ahead, "tenant": "t",
                                       "roles": ["submitter"]}, key, algorithm="HS256")

    assert verifier.verify([token(5)]).subject == "a5"
    with pytest.raises(AuthError, match="not yet valid"):
        verifier.verify([token(120)])


def test_claims_are_read_in_normal_form_c_one_tenant_however_its_accents_were_composed(settings):
    token = mint_token(settings, subject="zoe\u0301@example.org", tenant="clinique-zoe\u0301", roles=["operator"],
                       specialist_id="spe\u0301c-1", tenants=["ho\u0302pital"])
    principal = TokenVerifier(settings).verify([f"Bearer {token}"])
    assert (principal.subject, principal.tenant, principal.specialist_id) == (
        "zo\u00e9@example.org", "clinique-zo\u00e9", "sp\u00e9c-1")
    assert principal.granted_tenants == {"h\u00f4pital"}


@pytest.mark.parametrize("claims, message", [
    ({"sub": "evil\x1b[2J\x1b[31mFAKE ROW\nfoo"}, "'sub' must be printable"),
    ({"sub": "a" * 5000}, "'sub' must be at most 256"),
    ({"tenant": ["t1", "t2"]}, "'tenant' is required, a non-empty string"),
    ({"specialist_id": "spec\u202e1"}, "'specialist_id' must be printable"),
    ({"specialist_id": 7}, "'specialist_id' must be a string"),
    ({"roles": ["submitter\n"]}, "'roles' must be printable"),
    ({"tenants": ["t\x00"]}, "'tenants' must be printable"),
])
def test_claims_naming_the_caller_are_printable_and_bounded_as_they_reach_audits_and_logs(settings, claims, message):
    now = int(time.time())
    token = jwt.encode({"sub": "a", "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "exp": now + 60,
                        "tenant": "t1", "roles": ["submitter"], **claims}, settings.jwt_secret.get_secret_value(),
                       algorithm="HS256")
    with pytest.raises(AuthError, match=message):
        TokenVerifier(settings).verify([f"Bearer {token}"])


def test_a_token_that_would_outlive_a_year_is_refused(settings):
    # Short lifetimes are how access is taken back: exp=10**20 would never be.
    key = settings.jwt_secret.get_secret_value()
    base = {"sub": "a", "tenant": "t", "roles": ["submitter"], "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience}
    with pytest.raises(AuthError, match="claim 'exp' must be a time"):  # no float holds it
        TokenVerifier(settings).verify(["Bearer " + jwt.encode({**base, "exp": 10**400}, key, algorithm="HS256")])
    for exp in (10**11, time.time() + 367 * 86400, str(int(time.time()) + 400 * 86400)):
        with pytest.raises(AuthError, match="more than a year away"):
            TokenVerifier(settings).verify(["Bearer " + jwt.encode({**base, "exp": exp}, key, algorithm="HS256")])
    year = jwt.encode({**base, "exp": time.time() + 365 * 86400}, key, algorithm="HS256")
    assert TokenVerifier(settings).verify([f"Bearer {year}"]).subject == "a"


def test_no_key_configured_is_a_startup_error():
    with pytest.raises(ValueError, match="SECONDLOOK_JWT_SECRET"):
        TokenVerifier(Settings(jwt_secret=""))


def test_a_verified_token_is_remembered_until_it_expires_and_checked_again_after(settings, monkeypatch):
    verifier = TokenVerifier(settings)
    header = f"Bearer {mint_token(settings, subject='dr-a', tenant='t1', roles=['submitter'], ttl_seconds=60)}"
    checks = []
    real = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda h, carrier: checks.append(h) or real(h, carrier))
    first = verifier.verify([header])
    assert verifier.verify([header]) is first and len(checks) == 1
    later = time.time() + 61
    monkeypatch.setattr("secondlook.auth.time.time", lambda: later)  # past its expiry: checked again
    verifier.verify([header])
    assert len(checks) == 2
    with pytest.raises(AuthError):  # another token is never taken for a remembered one
        verifier.verify([header[:-2] + ("AA" if not header.endswith("AA") else "BB")])


async def test_a_stream_ends_when_the_token_that_opened_it_expires():
    closed = asyncio.Event()

    async def changes():
        try:
            yield "offer"
            await asyncio.Event().wait()  # nothing more happens
        finally:
            closed.set()

    principal = Principal("dr-a", "t1", frozenset({"reviewer"}), expires_at=time.time() + 0.3)
    received = []
    with pytest.raises(TokenExpired):
        async with asyncio.timeout(10):
            async for item in while_token_valid(changes(), principal):
                received.append(item)
    assert received == ["offer"] and closed.is_set()


async def test_a_stream_opened_with_a_token_already_expired_ends_at_once_and_one_without_expiry_runs_out():
    async def two():
        yield 1
        yield 2

    with pytest.raises(TokenExpired):
        async for _ in while_token_valid(two(), Principal("a", "t", frozenset(), expires_at=time.time() - 1)):
            pass
    assert [i async for i in while_token_valid(two(), Principal("a", "t", frozenset()))] == [1, 2]


def test_the_verified_principal_knows_when_its_token_expires(settings):
    token = mint_token(settings, subject="dr-a", tenant="t1", roles=["reviewer"], ttl_seconds=60)
    principal = TokenVerifier(settings).verify([f"Bearer {token}"])
    assert time.time() + 55 + 30 < principal.expires_at <= time.time() + 61 + 30  # exp and the leeway it is read with


class _Aborted(Exception):
    pass


class _Context:
    def __init__(self):
        self.aborted = None
        self.callbacks = []

    async def abort(self, code, details):
        self.aborted = (code, details)
        raise _Aborted()

    def add_done_callback(self, callback):
        self.callbacks.append(callback)

    def drop(self):
        """The connection went away: the call is done, its generator left suspended."""
        for callback in self.callbacks:
            callback(self)


async def test_one_caller_holds_at_most_its_streams_and_gets_one_back_when_a_stream_ends(settings):
    unsubscribed = []

    async def watch(request, context):
        try:
            yield "opened"
            await asyncio.Event().wait()  # an idle stream, held open until the client goes
        finally:
            unsubscribed.append(1)

    interceptor = AuthInterceptor(TokenVerifier(settings), OpenStreams(2))

    async def opened(subject: str, tenant: str):
        token = mint_token(settings, subject=subject, tenant=tenant, roles=["reviewer"])
        details = SimpleNamespace(method="/secondlook.review.v1.ReviewService/WatchAssignments",
                                  invocation_metadata=[("authorization", f"Bearer {token}")])

        async def continuation(_details):
            return grpc.unary_stream_rpc_method_handler(watch)

        handler = await interceptor.intercept_service(continuation, details)
        context = _Context()
        stream = handler.unary_stream(b"", context)
        try:
            first = await anext(stream)
        except _Aborted:
            return None, context
        assert first == "opened"
        return stream, context

    a1, _ = await opened("dr-a", "t1")
    a2, _ = await opened("dr-a", "t1")
    refused, context = await opened("dr-a", "t1")
    assert refused is None
    code, details = context.aborted
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "2 open streams" in details
    # The same subject in another tenant is another caller.
    other, _ = await opened("dr-a", "t2")
    assert other is not None
    await a1.aclose()  # a client that goes gives its stream back
    again, _ = await opened("dr-a", "t1")
    assert again is not None
    for stream in (a2, other, again):
        await stream.aclose()
    assert interceptor.streams.held(Principal("dr-a", "t1", frozenset())) == 0
    # A client whose connection dropped: the call ends with its generator suspended, never
    # closed. Its slot comes back all the same, and the handler's generator is closed.
    await eventually(lambda: _true(len(unsubscribed) == 4), 5, "the closed streams' generators to end")
    dropped = [await opened("dr-b", "t1") for _ in range(2)]
    for _, context in dropped:
        context.drop()
        context.drop()  # told twice: given back once
    assert interceptor.streams.held(Principal("dr-b", "t1", frozenset())) == 0
    await eventually(lambda: _true(len(unsubscribed) == 6), 5, "the dropped streams' generators closed")


async def _true(value: bool) -> bool:
    return value

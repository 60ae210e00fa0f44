"""Calling another service over gRPC as this service (services never import each
other: they call each other's API).

The caller proves who it is with a short-lived bearer token of its own
(`ServiceIdentity`: subject `service:<name>`, the roles the call needs), signed
with the platform's key like every token and renewed before it expires. With the
shared HS256 key of this deployment any service could sign any token; a
production deployment would give each workload its own credential (mTLS, or
tokens from an identity provider) and nothing in the callers changes.
"""

from __future__ import annotations

import time

import grpc

from secondlook import backoff
from secondlook.auth import mint_token
from secondlook.settings import Settings

TOKEN_SECONDS = 300
RENEW_BEFORE_SECONDS = 60
TIMEOUT_SECONDS = 5.0
TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class ServiceUnavailable(Exception):
    """The other service could not be asked (down, or too slow): the caller may try again."""


def _transient(exc: Exception) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in TRANSIENT


async def call(rpc, request, identity: ServiceIdentity, timeout: float = TIMEOUT_SECONDS):
    """One call to another service with this one's identity, a moment's outage tried
    again; ServiceUnavailable once it stays away. Any other refusal (NOT_FOUND,
    FAILED_PRECONDITION, ...) is raised as it came, for the caller to read."""
    try:
        with backoff.retries_named(f"call {type(request).__name__.removesuffix('Request')}"):
            async for attempt in backoff.attempts(_transient, attempts=3, wait_initial=0.1, wait_max=1.0):
                with attempt:
                    return await rpc(request, metadata=identity.metadata(), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in TRANSIENT:
            raise ServiceUnavailable(exc.code().name) from None
        raise
    raise AssertionError("unreachable: attempts either return or raise")


class ServiceIdentity:
    def __init__(self, settings: Settings, service: str, roles: list[str]):
        self._settings = settings
        self._service = service
        self._roles = roles
        self._token = ""
        self._expires = 0.0

    def metadata(self) -> tuple[tuple[str, str], ...]:
        now = time.monotonic()
        if now > self._expires - RENEW_BEFORE_SECONDS:
            self._token = mint_token(self._settings, subject=f"service:{self._service}", tenant="secondlook-services",
                                     roles=self._roles, ttl_seconds=TOKEN_SECONDS)
            self._expires = now + TOKEN_SECONDS
        return (("authorization", f"Bearer {self._token}"),)


def channel(settings: Settings, target: str) -> grpc.aio.Channel:
    """A channel to another service of this deployment (plaintext inside the cluster,
    as the services serve; the network policy admits only the platform's pods)."""
    return grpc.aio.insecure_channel(target, options=[
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
    ])

"""notify's adapters to the services that know how to reach people, asked over gRPC
with notify's service identity at send time: intake for a case's patient and
referring physician (and a prior authorization's ClaimResponse, for the
submitter's webhook), matching for a reviewer. Each records every read in its
audit, naming the notice. A notice's messages go out together (its e-mails, its
text): they share one read, held in memory for `ttl_seconds` at most. Nothing of
it is stored or logged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from secondlook import serviceclient
from secondlook.serviceclient import ServiceIdentity
from secondlook.v1 import intake_pb2, intake_pb2_grpc, matching_pb2, matching_pb2_grpc

SHARED_SECONDS = 5.0
SHARED_MAX = 1_000  # reads held at once


class SharedReads:
    """One read under way or done per key, shared by whoever asks within `ttl_seconds`
    (a failed read is not shared: the next ask reads again)."""

    def __init__(self, ttl_seconds: float):
        self._ttl = ttl_seconds
        self._shared: dict[tuple, tuple[float, asyncio.Future]] = {}

    async def get(self, key: tuple, read: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._shared and len(self._shared) < SHARED_MAX:
            future = asyncio.ensure_future(read())

            def forget(done: asyncio.Future = future) -> None:  # this read, not a later one under the same key
                if self._shared.get(key, (0.0, None))[1] is done:
                    del self._shared[key]

            def forget_failed(done: asyncio.Future) -> None:
                if done.cancelled() or done.exception() is not None:
                    forget(done)

            future.add_done_callback(forget_failed)
            asyncio.get_running_loop().call_later(self._ttl, forget)  # held this long at most, idle or not
            self._shared[key] = (time.monotonic() + self._ttl, future)
        if key in self._shared:
            return await asyncio.shield(self._shared[key][1])
        return await read()


async def _found_or_none(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


class IntakeContacts:
    def __init__(self, channel: grpc.aio.Channel, identity: ServiceIdentity, ttl_seconds: float = SHARED_SECONDS):
        self._stub = intake_pb2_grpc.IntakeServiceStub(channel)
        self._identity = identity
        self._reads = SharedReads(ttl_seconds)

    async def of_case(self, case_id: str, purpose: str, channels: tuple[str, ...] = ("email",)
                      ) -> intake_pb2.Contacts | None:
        """The case's contacts, read for `purpose` (one notice) once for all its messages;
        None when intake has no such case. ServiceUnavailable while intake cannot be
        asked (the attempt fails and is tried again later)."""
        request = intake_pb2.GetContactsRequest(case_id=case_id, purpose=purpose[:100], channels=list(channels))
        return await self._reads.get((case_id, purpose, channels), lambda: _found_or_none(
            serviceclient.call(self._stub.GetContacts, request, self._identity)))


class IntakeClaims:
    """A prior authorization's ClaimResponse, read from intake when its webhook is sent
    (each attempt reads it again: what intake answers now)."""

    def __init__(self, channel: grpc.aio.Channel, identity: ServiceIdentity):
        self._stub = intake_pb2_grpc.IntakeServiceStub(channel)
        self._identity = identity

    async def claim_response(self, case_id: str, purpose: str, decision_id: str,
                             decision_version: int = 0) -> tuple[str, bytes] | None:
        """The request's tenant and its ClaimResponse (FHIR JSON) with the announced
        decision (of that version); None when intake has no such prior authorization.
        ServiceUnavailable while intake cannot be asked."""
        request = intake_pb2.GetClaimResponseRequest(case_id=case_id, purpose=purpose[:100], decision_id=decision_id,
                                                     decision_version=decision_version)
        found = await _found_or_none(serviceclient.call(self._stub.GetClaimResponse, request, self._identity))
        return (found.tenant_id, found.fhir_json) if found is not None else None


class MatchingContacts:
    def __init__(self, channel: grpc.aio.Channel, identity: ServiceIdentity, ttl_seconds: float = SHARED_SECONDS):
        self._stub = matching_pb2_grpc.MatchingServiceStub(channel)
        self._identity = identity
        self._reads = SharedReads(ttl_seconds)

    async def of_reviewer(self, specialist_id: str, purpose: str, channels: tuple[str, ...] = ("email",)
                          ) -> matching_pb2.SpecialistContact | None:
        """The reviewer's contact, read for `purpose` once for all its messages; None when
        matching has no such active specialist."""
        request = matching_pb2.GetSpecialistContactRequest(specialist_id=specialist_id, purpose=purpose[:100],
                                                           channels=list(channels))
        return await self._reads.get((specialist_id, purpose, channels), lambda: _found_or_none(
            serviceclient.call(self._stub.GetSpecialistContact, request, self._identity)))

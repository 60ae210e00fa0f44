"""notify's adapter to intake: how to reach a case's patient and referring physician,
read over intake's gRPC API with notify's service identity at send time (intake
records each read in the case's access audit, naming the notice). A notice's
e-mails go out together (the patient's, the physician's): they share one read,
held in memory for `ttl_seconds` at most. Nothing of it is stored or logged."""

from __future__ import annotations

import asyncio
import time

import grpc

from secondlook import serviceclient
from secondlook.serviceclient import ServiceIdentity
from secondlook.v1 import intake_pb2, intake_pb2_grpc

SHARED_SECONDS = 5.0
SHARED_MAX = 1_000  # reads held at once


class IntakeContacts:
    def __init__(self, channel: grpc.aio.Channel, identity: ServiceIdentity, ttl_seconds: float = SHARED_SECONDS):
        self._stub = intake_pb2_grpc.IntakeServiceStub(channel)
        self._identity = identity
        self._ttl = ttl_seconds
        self._shared: dict[tuple, tuple[float, asyncio.Future]] = {}

    async def of_case(self, case_id: str, purpose: str, channels: tuple[str, ...] = ("email",)
                      ) -> intake_pb2.Contacts | None:
        """The case's contacts, read for `purpose` (one notice) once for all its e-mails;
        None when intake has no such case. ServiceUnavailable while intake cannot be
        asked (the attempt fails and is tried again later)."""
        key = (case_id, purpose, channels)
        if key not in self._shared and len(self._shared) < SHARED_MAX:
            read = asyncio.ensure_future(self._read(case_id, purpose, channels))

            def forget(done: asyncio.Future = read) -> None:  # this read, not a later one under the same key
                if self._shared.get(key, (0.0, None))[1] is done:
                    del self._shared[key]

            def forget_failed(done: asyncio.Future) -> None:  # a failed read is not shared: the next one asks again
                if done.cancelled() or done.exception() is not None:
                    forget(done)

            read.add_done_callback(forget_failed)
            asyncio.get_running_loop().call_later(self._ttl, forget)  # held this long at most, idle or not
            self._shared[key] = (time.monotonic() + self._ttl, read)
        if key in self._shared:
            return await asyncio.shield(self._shared[key][1])
        return await self._read(case_id, purpose, channels)

    async def _read(self, case_id: str, purpose: str, channels: tuple[str, ...]) -> intake_pb2.Contacts | None:
        request = intake_pb2.GetContactsRequest(case_id=case_id, purpose=purpose[:100], channels=list(channels))
        try:
            return await serviceclient.call(self._stub.GetContacts, request, self._identity)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

"""notify's adapter to intake: how to reach a case's patient and referring physician,
read over intake's gRPC API with notify's service identity at send time (intake
records each read in the case's access audit, naming the notice). Nothing of it is
stored or logged here: it lives as long as one send."""

from __future__ import annotations

import grpc

from secondlook import serviceclient
from secondlook.serviceclient import ServiceIdentity
from secondlook.v1 import intake_pb2, intake_pb2_grpc


class IntakeContacts:
    def __init__(self, channel: grpc.aio.Channel, identity: ServiceIdentity):
        self._stub = intake_pb2_grpc.IntakeServiceStub(channel)
        self._identity = identity

    async def of_case(self, case_id: str, purpose: str) -> intake_pb2.Contacts | None:
        """The case's contacts; None when intake has no such case. ServiceUnavailable
        while intake cannot be asked (the attempt fails and is tried again later)."""
        request = intake_pb2.GetContactsRequest(case_id=case_id, purpose=purpose[:100])
        try:
            return await serviceclient.call(self._stub.GetContacts, request, self._identity)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

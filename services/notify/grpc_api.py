"""notify's gRPC entry point: a tenant registers where its notices go."""

from __future__ import annotations

from secondlook.auth import require_role
from secondlook.clock import Clock
from secondlook.errors import field_violations
from secondlook.v1 import notify_pb2, notify_pb2_grpc

from . import usecases
from .repository import EndpointRepository
from .targets import check_host


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, endpoints: EndpointRepository, clock: Clock, allow_insecure_targets: bool):
        self._endpoints = endpoints
        self._clock = clock
        self._allow_insecure = allow_insecure_targets

    async def RegisterWebhook(self, request, context):
        principal = await require_role(context, "tenant-admin")
        try:
            endpoint = await usecases.register_webhook(
                self._endpoints, lambda host, port: check_host(host, port, self._allow_insecure), self._clock,
                tenant_id=principal.tenant, registered_by=principal.subject, url=request.url,
                allow_insecure=self._allow_insecure,
            )
        except usecases.InvalidWebhook as exc:
            await context.abort_with_status(field_violations(*exc.violations))
        return notify_pb2.RegisterWebhookResponse(endpoint_id=endpoint.tenant_id, secret=endpoint.secret)

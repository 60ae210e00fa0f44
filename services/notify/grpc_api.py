"""notify's gRPC API: a tenant registers where its notices go."""

from __future__ import annotations

from urllib.parse import urlsplit

from secondlook.auth import require_role
from secondlook.clock import utcnow
from secondlook.errors import field_violations
from secondlook.store import Store
from secondlook.v1 import notify_pb2, notify_pb2_grpc

from . import repository
from .domain.webhooks import check_endpoint_url, new_secret
from .targets import check_host


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, store: Store, allow_insecure_targets: bool):
        self._store = store
        self._allow_insecure = allow_insecure_targets

    async def RegisterWebhook(self, request, context):
        principal = await require_role(context, "tenant-admin")
        violations = check_endpoint_url(request.url, self._allow_insecure)
        if not violations:
            parts = urlsplit(request.url)
            problem = await check_host(parts.hostname or "", parts.port or 443, self._allow_insecure)
            if problem:
                violations = [("url", problem)]
        if violations:
            await context.abort_with_status(field_violations(*violations))
        secret = new_secret()
        await repository.put_endpoint(self._store.db, principal.tenant, {
            "url": request.url, "secret": secret, "registered_by": principal.subject, "registered_at": utcnow(),
        })
        return notify_pb2.RegisterWebhookResponse(endpoint_id=principal.tenant, secret=secret)

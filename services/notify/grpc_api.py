"""notify's gRPC API: a tenant registers where its notices go."""

from __future__ import annotations

from urllib.parse import urlparse

from secondlook.auth import require_role
from secondlook.grpcserver import field_violations
from secondlook.store import Store, utcnow
from secondlook.v1 import notify_pb2, notify_pb2_grpc

from . import repository
from .domain.webhooks import new_secret


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, store: Store):
        self._store = store

    async def RegisterWebhook(self, request, context):
        principal = await require_role(context, "tenant-admin")
        url = urlparse(request.url)
        if url.scheme not in ("http", "https") or not url.netloc:
            await context.abort_with_status(field_violations(("url", "must be an absolute http(s) URL")))
        secret = new_secret()
        await repository.put_endpoint(self._store.db, principal.tenant, {
            "url": request.url, "secret": secret, "registered_by": principal.subject, "registered_at": utcnow(),
        })
        return notify_pb2.RegisterWebhookResponse(endpoint_id=principal.tenant, secret=secret)

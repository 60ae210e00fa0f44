"""notify's gRPC entry point: a tenant manages where its notices go."""

from __future__ import annotations

import grpc

from secondlook.auth import Principal, require_role
from secondlook.clock import Clock
from secondlook.errors import field_violations
from secondlook.v1 import notify_pb2, notify_pb2_grpc

from . import usecases
from .domain.deliveries import CANCELLED, DEAD, DELIVERED, PENDING, SENDING, SKIPPED, WEBHOOK, Delivery
from .domain.endpoints import Endpoint
from .domain.preferences import TENANT, Preferences
from .domain.routing import PATIENT, PHYSICIAN, REVIEWER
from .preference_repository import PreferenceRepository
from .repository import DeliveryQueue, EndpointRepository
from .targets import check_host

ROLE = "tenant-admin"
MAX_ID = 1_000  # a delivery's id holds the tenant's
STATUSES = {PENDING: notify_pb2.DELIVERY_STATUS_PENDING, SENDING: notify_pb2.DELIVERY_STATUS_SENDING,
            DELIVERED: notify_pb2.DELIVERY_STATUS_DELIVERED, DEAD: notify_pb2.DELIVERY_STATUS_DEAD,
            CANCELLED: notify_pb2.DELIVERY_STATUS_CANCELLED, SKIPPED: notify_pb2.DELIVERY_STATUS_SKIPPED}


def _tenants(principal: Principal) -> frozenset[str]:
    """Whose deliveries the caller may see: its own tenant's (tenant-admin, submitter), and an
    operator also those its token grants."""
    own = frozenset({principal.tenant}) if principal.has(ROLE) else frozenset()
    return own | principal.readable_tenants()


def _delivery_message(d: Delivery) -> notify_pb2.Delivery:
    message = notify_pb2.Delivery(
        delivery_id=d.delivery_id, case_id=d.case_id, event_id=d.event_id, notice_type=d.event_type,
        channel=d.channel, endpoint_id=d.recipient if d.to_endpoint else "", status=STATUSES.get(d.status, 0),
        attempts=d.attempts, last_error=d.last_error, recipient=d.recipient if d.channel != WEBHOOK else "tenant")
    for field, value in (("next_attempt_at", d.next_attempt_at if d.status == PENDING else None),
                         ("created_at", d.created_at), ("delivered_at", d.delivered_at)):
        if value is not None:
            getattr(message, field).FromDatetime(value)
    for a in d.log:
        entry = message.log.add(number=a.number, outcome=a.outcome, status_code=a.status_code, error=a.error,
                                latency_ms=a.latency_ms)
        entry.at.FromDatetime(a.at)
    return message


def _endpoint_message(e: Endpoint, clock: Clock) -> notify_pb2.WebhookEndpoint:
    message = notify_pb2.WebhookEndpoint(endpoint_id=e.endpoint_id, url=e.url, event_types=list(e.event_types),
                                         description=e.description, disabled=not e.enabled,
                                         disabled_reason=e.disabled_reason, consecutive_dead=e.consecutive_dead)
    if e.created_at is not None:
        message.created_at.FromDatetime(e.created_at)
    if e.rotated_at is not None:
        message.secret_rotated_at.FromDatetime(e.rotated_at)
    if (expires := e.previous_expires_at(clock.now())) is not None:
        message.previous_secret_expires_at.FromDatetime(expires)
    return message


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, endpoints: EndpointRepository, queue: DeliveryQueue, clock: Clock,
                 allow_insecure_targets: bool, post: usecases.Post, retried=lambda: None, max_attempts: int = 8,
                 preferences: PreferenceRepository | None = None):
        self._endpoints = endpoints
        self._preferences = preferences
        self._queue = queue
        self._retried = retried  # tells the sending loop a delivery is due
        self._max_attempts = max_attempts
        self._clock = clock
        self._allow_insecure = allow_insecure_targets
        self._post = post
        self._tests_under_way = usecases.TestsUnderWay()

    def _check_host(self, host: str, port: int):
        return check_host(host, port, self._allow_insecure)

    @staticmethod
    async def _check_ids(context, **ids: str) -> None:
        """Each id given and of a sane length, or INVALID_ARGUMENT naming the field."""
        problems = [(name, "is required") if not value else (name, f"must be at most {MAX_ID} characters")
                    for name, value in ids.items() if not value or len(value) > MAX_ID]
        if problems:
            await context.abort_with_status(field_violations(*problems))

    async def _run(self, context, call):
        """Runs a use case, its refusals as gRPC statuses."""
        try:
            return await call()
        except (usecases.InvalidWebhook, usecases.InvalidPreferences) as exc:
            await context.abort_with_status(field_violations(*exc.violations))
        except usecases.NotYours as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except (usecases.UnknownEndpoint, usecases.UnknownDeliveries) as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except usecases.NotRetryable as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except usecases.TooManyEndpoints as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except (usecases.EndpointChanged, usecases.PreferencesChanged) as exc:
            await context.abort(grpc.StatusCode.ABORTED, str(exc))

    async def RegisterWebhook(self, request, context):
        principal = await require_role(context, ROLE)
        endpoint = await self._run(context, lambda: usecases.register_webhook(
            self._endpoints, self._check_host, self._clock, tenant_id=principal.tenant,
            registered_by=principal.subject, url=request.url, allow_insecure=self._allow_insecure))
        return notify_pb2.RegisterWebhookResponse(endpoint_id=endpoint.endpoint_id, secret=endpoint.secret)

    async def CreateEndpoint(self, request, context):
        principal = await require_role(context, ROLE)
        endpoint = await self._run(context, lambda: usecases.create_endpoint(
            self._endpoints, self._check_host, self._clock, tenant_id=principal.tenant, created_by=principal.subject,
            url=request.url, event_types=list(request.event_types), description=request.description,
            allow_insecure=self._allow_insecure))
        return notify_pb2.CreateEndpointResponse(endpoint=_endpoint_message(endpoint, self._clock),
                                                 secret=endpoint.secret)

    async def ListEndpoints(self, request, context):
        principal = await require_role(context, ROLE)
        endpoints = await usecases.list_endpoints(self._endpoints, principal.tenant)
        return notify_pb2.ListEndpointsResponse(endpoints=[_endpoint_message(e, self._clock) for e in endpoints])

    async def RotateSecret(self, request, context):
        principal = await require_role(context, ROLE)
        await self._check_ids(context, endpoint_id=request.endpoint_id)
        endpoint = await self._run(context, lambda: usecases.rotate_secret(
            self._endpoints, self._clock, tenant_id=principal.tenant, endpoint_id=request.endpoint_id,
            overlap_seconds=request.overlap_seconds))
        return notify_pb2.RotateSecretResponse(endpoint=_endpoint_message(endpoint, self._clock),
                                               secret=endpoint.secret)

    async def DisableEndpoint(self, request, context):
        principal = await require_role(context, ROLE)
        await self._check_ids(context, endpoint_id=request.endpoint_id)
        endpoint = await self._run(context, lambda: usecases.disable_endpoint(
            self._endpoints, tenant_id=principal.tenant, endpoint_id=request.endpoint_id, reason=request.reason,
            disabled_by=principal.subject))
        return _endpoint_message(endpoint, self._clock)

    async def EnableEndpoint(self, request, context):
        principal = await require_role(context, ROLE)
        await self._check_ids(context, endpoint_id=request.endpoint_id)
        endpoint = await self._run(context, lambda: usecases.enable_endpoint(
            self._endpoints, tenant_id=principal.tenant, endpoint_id=request.endpoint_id))
        return _endpoint_message(endpoint, self._clock)

    async def SendTestEvent(self, request, context):
        principal = await require_role(context, ROLE)
        await self._check_ids(context, endpoint_id=request.endpoint_id)
        try:
            webhook_id, status, error, seconds = await self._run(context, lambda: usecases.send_test_event(
                self._endpoints, self._post, self._clock, tenant_id=principal.tenant,
                endpoint_id=request.endpoint_id, under_way=self._tests_under_way))
        except usecases.TooManyTests as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        return notify_pb2.SendTestEventResponse(webhook_id=webhook_id, delivered=not error, status_code=status or 0,
                                                error=error, latency_ms=round(seconds * 1000))

    async def ListDeliveries(self, request, context):
        principal = await require_role(context, ROLE, "submitter", "operator")
        await self._check_ids(context, case_id=request.case_id)
        found = await self._run(context, lambda: usecases.list_deliveries(
            self._queue, case_id=request.case_id, tenants=_tenants(principal), operator=principal.has("operator")))
        return notify_pb2.ListDeliveriesResponse(deliveries=[_delivery_message(d) for d in found])

    async def RetryDelivery(self, request, context):
        principal = await require_role(context, ROLE, "operator")
        await self._check_ids(context, delivery_id=request.delivery_id)
        tenants = frozenset({principal.tenant}) | principal.granted_tenants if principal.has("operator") \
            else frozenset({principal.tenant})
        delivery = await self._run(context, lambda: usecases.retry_delivery(
            self._queue, self._clock, delivery_id=request.delivery_id, tenants=tenants,
            max_attempts=self._max_attempts, operator=principal.has("operator")))
        self._retried()
        return _delivery_message(delivery)

    async def GetNotificationPreferences(self, request, context):
        principal = await require_role(context, *PREFERENCE_ROLES)
        kind, subject_id = await _subject(request, context)
        found = await self._run(context, lambda: usecases.get_preferences(self._preferences, principal, kind,
                                                                          subject_id))
        return _preferences_message(found)

    async def SetNotificationPreferences(self, request, context):
        principal = await require_role(context, *PREFERENCE_ROLES)
        kind, subject_id = await _subject(request, context)
        quiet = request.quiet_hours
        saved = await self._run(context, lambda: usecases.set_preferences(
            self._preferences, self._clock, principal, kind=kind, subject_id=subject_id,
            muted_channels=list(request.muted_channels), language=request.language, quiet_start=quiet.start,
            quiet_end=quiet.end, time_zone=quiet.time_zone, expected_version=request.expected_version))
        return _preferences_message(saved)


PREFERENCE_ROLES = (ROLE, "submitter", "reviewer", "directory-admin")
_SUBJECT_KINDS = {"tenant": TENANT, "patient_of_case": PATIENT, "physician_npi": PHYSICIAN, "reviewer": REVIEWER}


async def _subject(request, context) -> tuple[str, str]:
    """(kind, id) of the request's subject, or INVALID_ARGUMENT naming it."""
    which = request.subject.WhichOneof("subject")
    if which is None or (which == "tenant" and not request.subject.tenant):
        await context.abort_with_status(field_violations(
            ("subject", "is required: tenant, patient_of_case, physician_npi or reviewer")))
    return _SUBJECT_KINDS[which], "" if which == "tenant" else getattr(request.subject, which)


def _preferences_message(p: Preferences) -> notify_pb2.NotificationPreferences:
    subject = notify_pb2.PreferencesSubject()
    field = next(name for name, kind in _SUBJECT_KINDS.items() if kind == p.kind)
    setattr(subject, field, True if p.kind == TENANT else p.subject_id)
    message = notify_pb2.NotificationPreferences(subject=subject, muted_channels=list(p.muted_channels),
                                                 language=p.language, updated_by=p.updated_by, version=p.version)
    if p.quiet_hours is not None:
        q = p.quiet_hours
        message.quiet_hours.CopyFrom(notify_pb2.QuietHours(start=f"{q.start:%H:%M}", end=f"{q.end:%H:%M}",
                                                           time_zone=q.time_zone))
    if p.updated_at is not None:
        message.updated_at.FromDatetime(p.updated_at)
    return message

"""notify's service layer: one function per command and per event, over the
repository ports and the unit of work. No gRPC, HTTP or MongoDB here."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit

from secondlook.auth import Principal
from secondlook.clock import Clock
from secondlook.errors import InvalidInput
from secondlook.events import Event
from secondlook.logging import bound_contextvars, get_logger
from secondlook.unitofwork import Transact
from secondlook.v1 import case_pb2

from .domain.deliveries import (
    CANCELLED,
    DEAD,
    PENDING,
    WEBHOOK,
    Attempt,
    Delivery,
    dead_event,
    delivered_event,
    endpoint_disabled_event,
    next_attempt,
    person_deliveries,
    tenant_delivery,
)
from .domain.endpoints import (
    MAX_ENDPOINTS,
    Endpoint,
    Secret,
    check_endpoint,
    check_overlap,
    check_reason,
    default_endpoint_id,
    new_endpoint_id,
    should_disable,
)
from .domain.notices import NoticeContext, SmsText
from .domain.preferences import (
    REVIEWERS_SCOPE,
    TENANT,
    Preferences,
    check_preferences,
    check_subject_id,
    default_language,
    effective,
    parse_quiet_hours,
    tenant_scope,
)
from .domain.routing import (
    DEFAULT_ENDPOINT_TYPES,
    EMAIL,
    OPERATIONS,
    OPINION_READY,
    PATIENT,
    PHYSICIAN,
    REVIEWER,
    SMS,
    offer_notices_of,
    route_of,
    stopped_by_withdrawal,
)
from .domain.webhooks import new_secret, registration_violations, webhook_test_body
from .preference_repository import PreferenceRepository
from .repository import DeliveryQueue, DeliveryRepository, EndpointHealth, EndpointRepository, Written

log = get_logger(__name__)

# Why a webhook host may not be used (it resolves inward, or not at all), or None.
HostCheck = Callable[[str, int], Awaitable[str | None]]


# One signed POST: (url, signing secrets, webhook id, body) -> (HTTP status, "") or (None, why not).
Post = Callable[[str, list[str], str, bytes], Awaitable[tuple[int | None, str]]]


class UnitOfWork(Protocol):
    deliveries: DeliveryRepository
    endpoints: EndpointHealth
    after_commit: list[Callable[[], None]]

    def emit(self, event: Event) -> None: ...


class InvalidWebhook(InvalidInput):
    """The URL, or what its host resolves to, may not receive notices; or another field is wrong."""


class UnknownEndpoint(LookupError):
    """No such endpoint for the caller's tenant (another tenant's included)."""


class TooManyEndpoints(Exception):
    """The tenant has as many endpoints as it may."""


class UnknownDeliveries(LookupError):
    """No such delivery, or none for the case, among the caller's tenants."""


class EndpointChanged(Exception):
    """The endpoint changed between reading and writing it (another change at the same moment)."""


# --- events ----------------------------------------------------------------------
class FirstAttempts(Protocol):
    """Notices to people sent before they are written (dispatcher.py)."""

    async def send_first(self, deliveries: list[Delivery]) -> None:
        """Sends them now (a repeat joins the attempt under way) and waits a little for them."""

    def ended(self, deliveries: list[Delivery]) -> dict[str, Delivery]:
        """By id, those whose attempt has ended them for good, as they are to be written
        (domain: settled_at_once); the others go on."""
        ...

    def written(self, inserted: list[Delivery], present: list[Delivery]) -> None:
        """After the write: `inserted` are in the store as given (with their outcome, or
        claimed for the attempt under way: its outcome is to be recorded there),
        `present` were there already (written by an earlier try of this write, or by
        another sender)."""


async def record_notices(deliveries: DeliveryRepository, endpoints: EndpointRepository, events: list[Event],
                         clock: Clock, send: Callable[[list[Delivery]], None], lease_seconds: float,
                         channels: frozenset[str] = frozenset(), escalate: bool = False,
                         people: FirstAttempts | None = None) -> list[bool]:
    """Lifecycle events (domain/routing.py): each one a webhook delivery to every one of
    the submitting tenant's endpoints that receives its type (an opinion's, or a
    request for information, to the tenant when none does: it waits, retried, for
    one to be set up), and on each of `channels` (e-mail, text) the notices to the
    people it tells (operations only with `escalate`: an address is set up). A
    delivery's id comes from its event, recipient and channel: once, however often
    the event arrives; nothing here is a transaction, only inserts.

    One read finds what the events already have (a redelivery, a redrive): an
    event's webhooks are routed once (when it comes again the endpoints may have
    changed, and routing it anew would send one notice to an endpoint under two
    ids), and a notice to a person written already is not sent again. The new
    webhooks are written already claimed for their first attempt and handed to
    `send` once durable.
    The new notices to people are first sent (`people`), then written in one
    insert: those the attempt ended (delivered, no address) with their outcome,
    the rest claimed for the attempt still under way. Until then the event, not
    yet committed by the consumer, stands for them: a notify that dies before the
    write is handed the event again and sends them again (as a sender that dies
    mid-send is tried again once its lease runs out); and so may two replicas
    handed the same event at once by a rebalance. Without `people` they are
    written claimed and handed to `send` like webhooks. Per event False when it
    was a repeat."""
    now = clock.now()
    lease = now + timedelta(seconds=lease_seconds)
    routes = [route_of(event) for event in events]
    targets: dict[int, list[str | None]] = {}  # by event: its endpoints (None: the tenant)
    personal: list[tuple[int, Delivery]] = []  # by event: its notices to people
    for i, (event, route) in enumerate(zip(events, routes, strict=True)):
        if route is None:
            continue
        if route.to_tenant:
            receiving = [e.endpoint_id for e in await endpoints.of_tenant(event.tenant_id)
                         if e.receives(route.event_type)]
            if receiving or route.waits_for_endpoint:
                targets[i] = list(receiving) or [None]
        for channel in sorted(channels):
            personal.extend((i, d) for d in person_deliveries(event, route, channel, now, claimed_until=lease)
                            if d.recipient != OPERATIONS or escalate)
    noticed = sorted(set(targets) | {i for i, _ in personal})
    written = await deliveries.written([(events[i].case_id, events[i].event_id) for i in noticed]) if noticed \
        else Written()
    applied = [i not in noticed for i in range(len(events))]  # an event nobody hears of writes nothing
    hooks = [(i, tenant_delivery(events[i], routes[i], now, claimed_until=lease, recipient=recipient))
             for i in targets if events[i].event_id not in written.routed for recipient in targets[i]]
    fresh = [(i, d) for i, d in personal if d.delivery_id not in written.deliveries]
    present = [d for _, d in personal if d.delivery_id in written.deliveries]
    if people is None:
        hooks, fresh = hooks + fresh, []
    if hooks:
        added = await deliveries.add_many([d for _, d in hooks])
        send([d for (_, d), new in zip(hooks, added, strict=True) if new])
        for (i, _), new in zip(hooks, added, strict=True):
            applied[i] = applied[i] or new
    if people is not None and (fresh or present):
        try:
            await people.send_first([d for _, d in fresh])
        except asyncio.CancelledError:  # the service is stopping: what was sent is written first
            await _write_first_attempts(deliveries, people, [d for _, d in fresh], present)
            raise
        added = await _write_first_attempts(deliveries, people, [d for _, d in fresh], present)
        for (i, _), new in zip(fresh, added, strict=True):
            applied[i] = applied[i] or new
    return applied


async def _write_first_attempts(deliveries: DeliveryRepository, people: FirstAttempts, fresh: list[Delivery],
                                present: list[Delivery]) -> list[bool]:
    """One insert: those the attempt ended with their outcome, the rest claimed for it."""
    settled = people.ended(fresh)
    first = [settled.get(d.delivery_id, d) for d in fresh]
    added = await deliveries.add_many(first) if first else []
    people.written(inserted=[d for d, new in zip(first, added, strict=True) if new],
                   present=present + [d for d, new in zip(first, added, strict=True) if not new])
    return added


async def rearm(queue: DeliveryQueue, clock: Clock, case_id: str, types: tuple[str, ...], max_attempts: int) -> int:
    """A redrive of a case stuck before delivery: dead deliveries get another round
    of attempts, so a receiver that was down longer than one round still gets its notice."""
    if types and "opinion.delivered" not in types:
        return 0
    return await queue.rearm_dead(case_id, clock.now(), max_attempts)


async def cancel_deliveries(queue: DeliveryQueue, clock: Clock, event: Event,
                            withdrawn: Callable[[str], None]) -> bool:
    """assignments.withdrawn: the case was withdrawn, so its notices not yet delivered
    are cancelled (an opinion submitted before the withdrawal came first on this
    topic: its delivery is among them), and the sender is told, so one handed over
    and not yet sent is not sent. One write; a repeat changes nothing."""
    cancelled = await queue.cancel_undelivered(event.case_id, clock.now())
    withdrawn(event.case_id)
    with bound_contextvars(case_id=event.case_id):
        log.info("deliveries_cancelled", cancelled=cancelled)
    return cancelled > 0  # none: a repeat, or nothing was waiting


async def cancel_offer_notices(queue: DeliveryQueue, clock: Clock, event: Event) -> bool:
    """assignment.declined or .expired: the offer is no longer the reviewer's, so its
    notices to them not yet delivered are cancelled. One write; a repeat changes nothing."""
    specialist_id = (event.assignment_declined.specialist_id if event.type == "assignment.declined"
                     else event.assignment_expired.specialist_id)
    cancelled = await queue.cancel_undelivered(event.case_id, clock.now(), offer_notices_of(specialist_id))
    if cancelled:
        with bound_contextvars(case_id=event.case_id):
            log.info("offer_notices_cancelled", cancelled=cancelled)
    return True  # applied (nothing waiting is the usual case, not a repeat)


# --- commands: the tenant's endpoints --------------------------------------------
async def _check_target(url: str, check_host: HostCheck) -> list[tuple[str, str]]:
    parts = urlsplit(url)
    problem = await check_host(parts.hostname or "", parts.port or 443)
    return [("url", problem)] if problem else []


async def register_webhook(endpoints: EndpointRepository, check_host: HostCheck, clock: Clock, *, tenant_id: str,
                           registered_by: str, url: str, allow_insecure: bool) -> Endpoint:
    """Registers (or replaces) the tenant's default endpoint, with a fresh signing
    secret, subscribed to the notices it always received (an opinion ready, more
    information needed): CreateEndpoint subscribes to the others."""
    violations = registration_violations(url, allow_insecure) or await _check_target(url, check_host)
    if violations:
        raise InvalidWebhook(violations)
    endpoint = Endpoint(endpoint_id=default_endpoint_id(tenant_id), tenant_id=tenant_id, url=url,
                        secrets=(Secret(new_secret()),), created_at=clock.now(), created_by=registered_by,
                        default=True, event_types=DEFAULT_ENDPOINT_TYPES)
    await endpoints.put_default(endpoint)
    return endpoint


async def create_endpoint(endpoints: EndpointRepository, check_host: HostCheck, clock: Clock, *, tenant_id: str,
                          created_by: str, url: str, event_types: list[str], description: str,
                          allow_insecure: bool) -> Endpoint:
    violations = check_endpoint(url, event_types, description, allow_insecure)
    if not violations:
        violations = await _check_target(url, check_host)
    if violations:
        raise InvalidWebhook(violations)
    endpoint = Endpoint(endpoint_id=new_endpoint_id(), tenant_id=tenant_id, url=url, secrets=(Secret(new_secret()),),
                        event_types=tuple(event_types), description=description, created_at=clock.now(),
                        created_by=created_by)
    if not await endpoints.add(endpoint, MAX_ENDPOINTS):
        raise TooManyEndpoints(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints: disable and reuse one")
    return endpoint


async def list_endpoints(endpoints: EndpointRepository, tenant_id: str) -> list[Endpoint]:
    return await endpoints.of_tenant(tenant_id, fresh=True)


async def _change(endpoints: EndpointRepository, tenant_id: str, endpoint_id: str,
                  change: Callable[[Endpoint], Endpoint]) -> Endpoint:
    """Applies `change` to the tenant's endpoint, guarded by its version."""
    endpoint = await _own(endpoints, tenant_id, endpoint_id)
    after = change(endpoint)
    if not await endpoints.save(endpoint, after):
        raise EndpointChanged("the endpoint changed meanwhile: read it again and retry")
    return dataclasses.replace(after, version=endpoint.version + 1)


async def _own(endpoints: EndpointRepository, tenant_id: str, endpoint_id: str) -> Endpoint:
    found = next((e for e in await endpoints.of_tenant(tenant_id, fresh=True) if e.endpoint_id == endpoint_id), None)
    if found is None:  # another tenant's looks the same as none
        raise UnknownEndpoint(f"no webhook endpoint {endpoint_id[:64]!r} for this tenant")
    return found


async def rotate_secret(endpoints: EndpointRepository, clock: Clock, *, tenant_id: str, endpoint_id: str,
                        overlap_seconds: int) -> Endpoint:
    """A new current secret; the previous one keeps signing for the overlap."""
    overlap, violations = check_overlap(overlap_seconds)
    if violations:
        raise InvalidWebhook(violations)
    return await _change(endpoints, tenant_id, endpoint_id, lambda e: e.rotated(new_secret(), clock.now(), overlap))


async def disable_endpoint(endpoints: EndpointRepository, *, tenant_id: str, endpoint_id: str, reason: str,
                           disabled_by: str) -> Endpoint:
    if violations := check_reason(reason):
        raise InvalidWebhook(violations)
    return await _change(endpoints, tenant_id, endpoint_id,
                         lambda e: e.disabled(f"by {disabled_by}" + (f": {reason}" if reason else "")))


async def enable_endpoint(endpoints: EndpointRepository, *, tenant_id: str, endpoint_id: str) -> Endpoint:
    return await _change(endpoints, tenant_id, endpoint_id, lambda e: e.enabled_again())


class TooManyTests(Exception):
    """As many test events of the tenant as it may have are waiting on receivers."""


class TestsUnderWay:
    """The test events under way on this replica, by tenant. A test waits on the
    tenant's receiver (up to the webhook timeout) and holds a connection meanwhile: a
    flood of them against a receiver that never answers would hold what every
    tenant's notices need."""

    PER_TENANT = 2

    def __init__(self) -> None:
        self._by_tenant: Counter[str] = Counter()

    @contextlib.contextmanager
    def one_more(self, tenant_id: str):
        if self._by_tenant[tenant_id] >= self.PER_TENANT:
            raise TooManyTests(f"{self.PER_TENANT} test events of this tenant are under way: wait for their answers")
        self._by_tenant[tenant_id] += 1
        try:
            yield
        finally:
            self._by_tenant[tenant_id] -= 1
            if not self._by_tenant[tenant_id]:
                del self._by_tenant[tenant_id]


async def send_test_event(endpoints: EndpointRepository, post: Post, clock: Clock, *, tenant_id: str,
                          endpoint_id: str, under_way: TestsUnderWay) -> tuple[str, int | None, str, float]:
    """POSTs a signed test notice now, once, whatever the endpoint subscribes to (also when
    disabled: it checks a fix before enabling); (webhook id, HTTP status, error, seconds).
    TooManyTests while the tenant has as many under way as it may."""
    endpoint = await _own(endpoints, tenant_id, endpoint_id)
    webhook_id = "test_" + uuid.uuid4().hex
    body = webhook_test_body(tenant_id=tenant_id, endpoint_id=endpoint_id, webhook_id=webhook_id,
                             occurred_at=clock.now().isoformat())
    with under_way.one_more(tenant_id):
        started = time.perf_counter()
        status, error = await post(endpoint.url, endpoint.signing_secrets(clock.now()), webhook_id, body)
    if status is not None and not 200 <= status < 300:
        error = f"receiver answered HTTP {status}"
    return webhook_id, status, error, time.perf_counter() - started


# --- commands: the delivery log -------------------------------------------------------
class NotRetryable(Exception):
    """The delivery is not dead (delivered, cancelled, or still being tried)."""


def _visible(delivery: Delivery, operator: bool) -> bool:
    """A reviewer's and operations' notices are the platform's: an operator sees them, the
    tenant does not (a reviewer's quiet hours, muted channels or missing phone are theirs)."""
    return operator or delivery.recipient not in (REVIEWER, OPERATIONS)


async def list_deliveries(queue: DeliveryQueue, *, case_id: str, tenants: frozenset[str],
                          operator: bool = False) -> list[Delivery]:
    """The case's deliveries with their attempts; a case of no tenant the caller may
    read looks the same as one with no deliveries (UnknownDeliveries)."""
    found = [d for d in await queue.of_case(case_id, tenants) if _visible(d, operator)]
    if not found:
        raise UnknownDeliveries(f"no deliveries for case {case_id[:64]!r} in the tenants this caller may read")
    return found


async def retry_delivery(queue: DeliveryQueue, clock: Clock, *, delivery_id: str, tenants: frozenset[str],
                         max_attempts: int, operator: bool = False) -> Delivery:
    """A dead delivery gets another round of attempts, at once (the sending loop is told)."""
    delivery = await queue.get(delivery_id, tenants)
    if delivery is None or not _visible(delivery, operator):
        raise UnknownDeliveries(f"no delivery {delivery_id[:64]!r} in the tenants this caller may read")
    if delivery.status != DEAD:
        raise NotRetryable(f"delivery is {delivery.status}: only a dead delivery can be retried")
    if not await queue.retry_now(delivery, clock.now(), max_attempts):
        raise NotRetryable("delivery changed meanwhile: list it again")
    return dataclasses.replace(delivery, status=PENDING, next_attempt_at=clock.now(),
                               attempt_budget=delivery.attempts + max_attempts)


# --- commands: notification preferences --------------------------------------------
class InvalidPreferences(InvalidInput):
    """A field of the preferences breaks a rule: nothing is kept."""


class NotYours(Exception):
    """The caller may not read or set these preferences."""


class PreferencesChanged(Exception):
    """They changed since the version the caller read."""


def preference_scope(principal: Principal, kind: str, subject_id: str) -> str:
    """Whose namespace the preferences live in, if the caller may manage them: a tenant's
    own defaults (tenant-admin), the people of its cases (tenant-admin, submitter), a
    reviewer's own (that reviewer, or a directory-admin: a reviewer's preferences hold
    for every tenant's cases, so no one tenant's operator may set them)."""
    if kind == TENANT and principal.has("tenant-admin"):
        return tenant_scope(principal.tenant)
    if kind in (PATIENT, PHYSICIAN) and (
            principal.has("tenant-admin") or principal.has("submitter")):
        return tenant_scope(principal.tenant)
    if kind == REVIEWER and (principal.has("directory-admin") or (
            principal.has("reviewer") and principal.specialist_id == subject_id)):
        return REVIEWERS_SCOPE
    raise NotYours(f"this caller may not manage a {kind}'s notification preferences"
                   + (" other than their own" if kind == REVIEWER and principal.has("reviewer") else ""))


async def get_preferences(repository: PreferenceRepository, principal: Principal, kind: str,
                          subject_id: str) -> Preferences:
    if violations := check_subject_id(kind, subject_id):
        raise InvalidPreferences(violations)
    scope = preference_scope(principal, kind, subject_id)
    found = await repository.get(scope, kind, subject_id)
    return found or Preferences(scope=scope, kind=kind, subject_id=subject_id)


async def set_preferences(repository: PreferenceRepository, clock: Clock, principal: Principal, *, kind: str,
                          subject_id: str, muted_channels: list[str], language: str, quiet_start: str,
                          quiet_end: str, time_zone: str, expected_version: int) -> Preferences:
    """Replaces the subject's preferences whole, every field checked (all violations at once)."""
    language, violations = check_preferences(muted_channels, language)
    quiet, quiet_violations = parse_quiet_hours(quiet_start, quiet_end, time_zone)
    violations = check_subject_id(kind, subject_id) + violations + quiet_violations
    if expected_version < 0:
        violations.append(("expected_version", "must be 0 (replace whatever is there) or a version read"))
    if violations:
        raise InvalidPreferences(violations)
    scope = preference_scope(principal, kind, subject_id)
    wanted = Preferences(scope=scope, kind=kind, subject_id=subject_id, muted_channels=tuple(muted_channels),
                         language=language, quiet_hours=quiet, updated_at=clock.now(), updated_by=principal.subject)
    saved = await repository.put(wanted, expected_version)
    if saved is None:
        raise PreferencesChanged("the preferences changed meanwhile: read them again and retry")
    return saved


# --- notices to people: e-mail and text ----------------------------------------------
class ContactBook(Protocol):
    async def of_case(self, case_id: str, purpose: str, channels: tuple[str, ...]) -> Any: ...  # Contacts or None


class ReviewerBook(Protocol):
    """A reviewer's e-mail, phone and language (matching's directory), or None."""
    async def of_reviewer(self, specialist_id: str, purpose: str, channels: tuple[str, ...]) -> Any: ...


@dataclass(frozen=True)
class Address:
    """Where and how to reach one recipient of one notice."""
    email: str = ""
    phone: str = ""
    language: str = ""
    expedited: bool = False
    preferences: tuple[str, str, str] | None = None  # (scope, kind, subject id) of their preferences
    kept: str = "on the case"  # where the address is kept, for a skipped notice's why


class Composer(Protocol):
    def message(self, name: str, language: str, context: NoticeContext, *, sender: str, to: str,
                delivery_id: str) -> EmailMessage: ...
    def sms(self, name: str, language: str, context: NoticeContext) -> tuple[str, str]: ...


@dataclass(frozen=True)
class Prepared:
    """A notice to a person, ready to send (`outgoing`); or not to be sent, for good
    (`skipped`, why); or to wait for the recipient's quiet hours to end (`wait_until`)."""
    outgoing: EmailMessage | SmsText | None = None
    skipped: str = ""
    wait_until: datetime | None = None
    why_waiting: str = ""


async def address_of(delivery: Delivery, contacts: ContactBook, reviewers: ReviewerBook | None,
                     operations_email: str, channels: tuple[str, ...]) -> Address | str:
    """How to reach the delivery's recipient now, or why nobody can be (for good): a
    case's people from intake, a reviewer from matching (each read recorded in their
    audit, naming the notice), operations at the deployment's address."""
    purpose = f"{delivery.event_type} notice {delivery.event_id}"
    if delivery.recipient == OPERATIONS:
        if not operations_email:
            return "no operations e-mail address is set up (SECONDLOOK_OPERATIONS_EMAIL)"
        return Address(email=operations_email, expedited=True)
    if delivery.recipient == REVIEWER:
        found = await reviewers.of_reviewer(delivery.person_id, purpose, channels) if reviewers else None
        if found is None:
            return "matching has no such active reviewer"
        return Address(email=found.email, phone=found.phone, language=found.language, expedited=delivery.expedited,
                       preferences=(REVIEWERS_SCOPE, REVIEWER, delivery.person_id), kept="in the directory")
    found = await contacts.of_case(delivery.case_id, purpose, channels)
    if found is None:
        return "intake has no such case"
    if found.status == case_pb2.CASE_STATUS_WITHDRAWN and stopped_by_withdrawal(delivery.kind, delivery.recipient):
        # Withdrawn while this notice's event was on its way (an opinion signed in the
        # same instant): intake, the case's system of record, says what the people are told.
        return "the case was withdrawn: only its withdrawal is told"
    contact = found.patient if delivery.recipient == PATIENT else found.physician
    subject = delivery.case_id if delivery.recipient == PATIENT else contact.npi
    return Address(email=contact.email, phone=contact.phone, language=contact.language,
                   expedited=found.urgency == case_pb2.URGENCY_EXPEDITED,
                   preferences=(tenant_scope(delivery.tenant_id), delivery.recipient, subject))


async def compose(contacts: ContactBook, composer: Composer, delivery: Delivery, *, sender: str, portal_url: str,
                  channels: tuple[str, ...], preferences: PreferenceRepository | None = None,
                  now: datetime | None = None, reviewers: ReviewerBook | None = None,
                  operations_email: str = "") -> Prepared:
    """The e-mail or text a delivery sends, addressed as its recipient's book has them
    now (address_of; one read per notice for all `channels` this notify sends by), in
    the language and at the time the recipient's preferences (over their tenant's)
    say. Skipped when there is nobody to send it to (no such case or reviewer, no
    address) or the recipient muted the channel: nothing will change that."""
    address = await address_of(delivery, contacts, reviewers, operations_email, channels)
    if isinstance(address, str):
        return Prepared(skipped=address)
    person, tenant = None, None
    if preferences is not None and address.preferences is not None:
        person, tenant = await preferences.for_notice(*address.preferences)
    wishes = effective(delivery.channel, person, tenant)
    if wishes.muted:
        return Prepared(skipped=f"the {delivery.recipient} does not receive {delivery.channel} notices "
                                "(notification preferences)")
    if (until := wishes.wait_until(now or datetime.now(UTC), address.expedited)) is not None:
        assert wishes.quiet_hours is not None
        return Prepared(wait_until=until, why_waiting=f"quiet hours {wishes.quiet_hours.describe()}")
    language = wishes.language or address.language or default_language(tenant)
    context = NoticeContext(portal_url=portal_url, expedited=address.expedited and delivery.recipient != OPERATIONS,
                            facts=json.loads(delivery.body) if delivery.body else {})
    if delivery.channel == SMS:
        if not address.phone:
            return Prepared(skipped=f"the {delivery.recipient} has no phone number {address.kept}")
        _, body = composer.sms(delivery.template, language, context)
        return Prepared(SmsText(to=address.phone, body=body, message_id=delivery.delivery_id))
    if not address.email:
        return Prepared(skipped=f"the {delivery.recipient} has no e-mail address {address.kept}")
    return Prepared(composer.message(delivery.template, language, context, sender=sender, to=address.email,
                                     delivery_id=delivery.delivery_id))


async def record_postponed(queue: DeliveryQueue, delivery: Delivery, attempt: Attempt, until: datetime,
                           max_attempts: int) -> bool:
    """Quiet hours: the delivery waits until they end; the attempt it was claimed for
    does not count against its budget (False: its lease was taken over)."""
    return await queue.postpone(delivery, until, attempt, (delivery.attempt_budget or max_attempts) + 1)


async def record_skipped(queue: DeliveryQueue, delivery: Delivery, attempt: Attempt) -> bool:
    """Nobody to send it to: the delivery ends SKIPPED, with why (False: its lease was taken over)."""
    return await queue.mark_skipped(delivery, attempt)


# --- the sending loop ---------------------------------------------------------------
async def target_of(endpoints: EndpointRepository, delivery: Delivery) -> tuple[Endpoint | None, str]:
    """Where a delivery goes now: its endpoint, or for one addressed to the tenant the
    first endpoint that receives its type; else (None, why not)."""
    tenant_endpoints = await endpoints.of_tenant(delivery.tenant_id)
    if delivery.to_endpoint:
        endpoint = next((e for e in tenant_endpoints if e.endpoint_id == delivery.recipient), None)
        if endpoint is None:
            return None, "the webhook endpoint no longer exists"
        return (endpoint, "") if endpoint.enabled else (None, "the webhook endpoint is disabled")
    endpoint = next((e for e in tenant_endpoints if e.receives(delivery.event_type)), None)
    if endpoint is None:
        return None, f"the tenant has no enabled webhook endpoint for {delivery.event_type}"
    return endpoint, ""


async def next_due(queue: DeliveryQueue) -> datetime | None:
    """When a delivery next falls due (None: nothing waits)."""
    return await queue.next_due()


async def claim_next(queue: DeliveryQueue, clock: Clock, lease_seconds: float) -> Delivery | None:
    return await queue.claim_due(clock.now(), lease_seconds)


async def record_delivered(transact: Transact, queue: DeliveryQueue, clock: Clock, delivery: Delivery,
                           attempt: Attempt) -> bool:
    """The receiver took the notice: the delivery (its attempt logged) and, for the
    tenant's opinion webhook, `opinion.delivered` (a stage of the case) commit
    together; any other notice is one guarded write. False when this attempt's
    lease was taken over meanwhile (its outcome is not recorded)."""
    if not (delivery.kind == OPINION_READY and delivery.channel == WEBHOOK):
        return await queue.mark_delivered(delivery, clock.now(), attempt)

    async def body(uow: UnitOfWork) -> bool:
        now = clock.now()
        if not await uow.deliveries.mark_delivered(delivery, now, attempt):
            return False
        uow.emit(delivered_event(delivery, now))
        return True

    return await transact(body)


async def record_failed(transact: Transact, queue: DeliveryQueue, clock: Clock, delivery: Delivery,
                        attempt: Attempt, max_attempts: int, disable_after_dead: int,
                        retry_base_seconds: float = 1.0, escalate: bool = False) -> str:
    """A failed attempt (logged, `attempt.error` saying why): scheduled again with
    backoff (one write), or, out of attempts,
    dead with an escalation (`delivery.dead`) and, when its endpoint's deliveries have
    now died `disable_after_dead` times in a row, the endpoint disabled
    (`endpoint.disabled`), in one transaction; with `escalate`, each escalation is also
    an e-mail to operations, written in it (not for a dead notice to operations: that
    would never end). The outcome: "retrying", "dead", "cancelled" (its case was
    withdrawn) or "" (the lease was taken over)."""
    next_at = next_attempt(delivery, clock.now(), max_attempts, base_seconds=retry_base_seconds)
    if next_at is not None:
        outcome = await queue.mark_failed(delivery, next_at, attempt)
        return {PENDING: "retrying", CANCELLED: "cancelled"}.get(outcome, "")

    async def body(uow: UnitOfWork) -> str:
        now = clock.now()
        outcome = await uow.deliveries.mark_dead(delivery, attempt)
        if outcome != DEAD:
            return {CANCELLED: "cancelled"}.get(outcome, "")
        escalations = [dead_event(delivery, attempt.error, now)]
        if delivery.to_endpoint:
            endpoint = await uow.endpoints.count_dead(delivery.recipient)
            if endpoint is not None and should_disable(endpoint, disable_after_dead):
                reason = f"{endpoint.consecutive_dead} deliveries in a row died"
                if await uow.endpoints.disable_for_failure(endpoint.endpoint_id, reason):
                    escalations.append(endpoint_disabled_event(endpoint.endpoint_id, endpoint.tenant_id,
                                                               endpoint.consecutive_dead, reason, now,
                                                               delivery.event_id))
                    uow.after_commit.append(lambda: log.warning(
                        "webhook_endpoint_disabled", endpoint_id=endpoint.endpoint_id, tenant_id=endpoint.tenant_id,
                        consecutive_dead=endpoint.consecutive_dead))
        for escalation in escalations:
            uow.emit(escalation)
            if escalate and delivery.recipient != OPERATIONS:
                for notice in person_deliveries(escalation, route_of(escalation), EMAIL, now):
                    await uow.deliveries.add(notice)
        return "dead"

    return await transact(body)

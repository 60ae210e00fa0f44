"""notify's sending loop (an entry point, like the event handlers): POSTs
webhooks through the webhook sender, sends e-mails through the SMTP relay (the
address asked of intake at send time, the message rendered from the templates),
and records each outcome through the use cases.

A new delivery comes from memory. A webhook: the handler writes it already
claimed for its first attempt and hands it over (`send_now`). A notice to a
person: the handler has it sent first (`send_first`) and writes it once with
that attempt's outcome; one whose attempt goes on past the handler's wait is
written claimed, and its outcome recorded here when it ends (`written`). So a
new notice costs no claim. The store is asked only for what memory cannot know:
retries whose backoff ran out, leases of senders that died (here or on another
replica), re-armed deliveries. Then the loop claims what is due, asks once when
the next delivery falls due, and sleeps until then, or until told to ask again
(a redrive, a failed attempt), at most a minute: an idle notify sends the store
one query a minute.

A sender that dies mid-send leaves a lease that expires, and the delivery is
tried again under the same webhook-id: receivers drop the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import grpc

from secondlook import backoff, metrics
from secondlook.clock import Clock
from secondlook.logging import bound_contextvars, get_logger
from secondlook.serviceclient import ServiceUnavailable
from secondlook.unitofwork import Transact

from . import usecases
from .domain.deliveries import CANCELLED, DELIVERED, SENDING, SKIPPED, Attempt, Delivery, settled_at_once
from .domain.notices import SmsText
from .domain.routing import EMAIL, OPINION_READY, PERSON_CHANNELS, SMS, carries_claim_response, stopped_by_withdrawal
from .domain.webhooks import check_endpoint_url, headers, notice_time, with_claim_response
from .mailer import SmtpMailer
from .preference_repository import PreferenceRepository
from .repository import CachedEndpoints, DeliveryQueue
from .sms import SmsSender
from .targets import PublicOnlyResolver

log = get_logger(__name__)

IDLE_RECHECK_SECONDS = 60.0
SENDING_AT_ONCE = 50  # POSTs under way at once
# A new delivery's lease also covers its wait for a free sender: one that waited
# longer is left to the store (claimed again once its lease runs out).
FRESH_WAIT_SECONDS = 10.0
WITHDRAWN_MEMORY = 10_000  # withdrawn cases this replica remembers, to send nothing new for them
COMPOSE_SECONDS = 8.0  # reading the contacts and rendering a notice to a person, at most
# How long an event's handler waits for the first attempts at its notices to people, to
# write them once with their outcome; one still under way then is written claimed and
# its outcome recorded when it ends (a slow relay holds the consumer this long, no more).
SETTLE_SECONDS = 2.0
FIRST_ATTEMPTS_HELD = 10_000  # first attempts remembered until written (a failed write's retry joins them)
# How an attempt ended, besides DELIVERED, SKIPPED, CANCELLED; UNSENT: it waited for a
# sender past its lease (the store's to hand out again once the lease runs out).
FAILED, POSTPONED, UNSENT = "failed", "postponed", "unsent"


@dataclass(frozen=True)
class Tried:
    """How an attempt at a notice to a person ended, before anything is recorded."""
    status: str  # DELIVERED, SKIPPED, FAILED, POSTPONED (until `wait_until`); CANCELLED, UNSENT: not begun
    attempt: Attempt | None
    wait_until: datetime | None = None


def _counted(delivery: Delivery, status: str, attempt: Attempt) -> None:
    """A notice to a person delivered or skipped, recorded: counted and logged."""
    if status == DELIVERED:
        metrics.DELIVERY_ATTEMPTS.labels("notify", delivery.channel, "delivered").inc()
        log.info(f"{delivery.channel}_delivered", recipient=delivery.recipient, attempts=delivery.attempts,
                 seconds=attempt.latency_ms / 1000)
    else:
        metrics.DELIVERY_ATTEMPTS.labels("notify", delivery.channel, "skipped").inc()
        log.info(f"{delivery.channel}_skipped", recipient=delivery.recipient, why=attempt.error)


def refused_for_good(channel: str, code: int) -> bool:
    """A refusal no retry will change: an SMTP 5xx (a 4xx is "try later"), an HTTP 4xx
    from the text provider other than 429 (an invalid or opted-out number)."""
    if channel == EMAIL:
        return 500 <= code < 600
    return 400 <= code < 500 and code != 429


@dataclass(frozen=True)
class PeopleChannels:
    """What notices to people take: intake's contacts, matching's reviewers', the
    templates, and the senders of the channels this notify has (the SMTP relay, a
    text-message provider)."""
    contacts: usecases.ContactBook
    templates: usecases.Composer
    mailer: SmtpMailer | None
    sms: SmsSender | None
    sender: str  # the e-mails' From
    portal_url: str
    preferences: PreferenceRepository | None = None  # None: nobody has any (tests of the channels alone)
    reviewers: usecases.ReviewerBook | None = None
    operations_email: str = ""  # escalations' recipients ("" : none)

    @property
    def escalates(self) -> bool:
        """Whether operations are e-mailed escalations."""
        return bool(self.operations_email and self.mailer)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c for c, on in ((EMAIL, self.mailer), (SMS, self.sms)) if on is not None)

    async def send(self, outgoing) -> tuple[int | None, str]:
        if isinstance(outgoing, SmsText):
            assert self.sms is not None
            return await self.sms.send(outgoing)
        assert self.mailer is not None
        return await self.mailer.send(outgoing)


CONNECTIONS, CONNECTIONS_PER_RECEIVER = 1000, 16


class WebhookSender:
    """The HTTP adapter: one signed POST, connecting only to checked public addresses."""

    def __init__(self, timeout: float, allow_insecure: bool):
        self._timeout = timeout
        self._allow_insecure = allow_insecure
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookSender:
        # Connections per receiver, not one pool for all: a tenant whose endpoint is slow to
        # answer holds its own host's connections, never the ones other tenants' notices wait
        # for (the timeout counts the wait for a connection too).
        connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(self._allow_insecure),
                                         limit=CONNECTIONS, limit_per_host=CONNECTIONS_PER_RECEIVER)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout), connector=connector)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._http is not None:
            await self._http.close()

    async def post(self, url: str, secrets: list[str], webhook_id: str, body: bytes) -> tuple[int | None, str]:
        """(HTTP status, "") or (None, why the POST did not happen); signed with each secret."""
        refused = check_endpoint_url(url, self._allow_insecure)
        if refused:  # registered under other rules, or an address literal no resolver sees
            return None, f"endpoint refused: {refused[0][1]}"
        assert self._http is not None
        try:
            async with self._http.post(url, data=body, allow_redirects=False,  # a redirect must not re-aim it
                                       headers=headers(secrets, webhook_id, int(time.time()), body)) as response:
                return response.status, ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"POST failed: {exc.__class__.__name__}"
        except Exception as exc:  # e.g. an unusable URL: counts as an attempt too
            return None, f"POST not possible: {exc.__class__.__name__}"


class Dispatcher:
    def __init__(self, transact: Transact, queue: DeliveryQueue, endpoints: CachedEndpoints, clock: Clock, *,
                 timeout: float, max_attempts: int, allow_insecure_targets: bool, disable_after_dead: int = 0,
                 retry_base_seconds: float = 1.0, people: PeopleChannels | None = None,
                 people_send_seconds: float = 10.0,
                 claims: Callable[[str, str, str], Awaitable[tuple[str, bytes] | None]] | None = None):
        self._transact = transact
        self._queue = queue
        self._endpoints = endpoints
        self._clock = clock
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._disable_after_dead = disable_after_dead
        self._people = people
        self._claims = claims  # a prior authorization's ClaimResponse, from intake
        self._retry_base = retry_base_seconds
        self._allow_insecure = allow_insecure_targets
        # The lease outlives one attempt (a POST; or composing a notice to a person and its
        # channel's send, each bounded by its own timeout) with room to record the outcome:
        # a send still under way when its lease ran out would be sent again by another sender.
        self.lease_seconds = max(timeout, COMPOSE_SECONDS + people_send_seconds if people else 0) + 5
        self.fresh_lease_seconds = self.lease_seconds + FRESH_WAIT_SECONDS
        self.wake = asyncio.Event()
        self._fresh: deque[Delivery] = deque()  # handed over by the handler, not yet started
        self._sending = asyncio.Semaphore(SENDING_AT_ONCE)
        self._tasks: set[asyncio.Task] = set()
        self._ask_store_at = 0.0  # monotonic: when the store must be asked what is due (0: at once)
        self._asked = 0  # bumped by every ask: a query under way does not push a later ask back
        # Cases withdrawn here: a notice of theirs handed over but not yet sent is not sent
        # (a webhook's is marked in the store, and cancelled if it is ever claimed again; a
        # person's is written cancelled).
        self._withdrawn: OrderedDict[str, None] = OrderedDict()
        self._sender: WebhookSender | None = None  # while running
        self._first: OrderedDict[str, asyncio.Task[Tried]] = OrderedDict()  # first attempts not yet written

    async def post(self, url: str, secrets: list[str], webhook_id: str, body: bytes) -> tuple[int | None, str]:
        """One signed POST through the running sender (SendTestEvent's)."""
        if self._sender is None:
            return None, "notify is starting: try again in a moment"
        return await self._sender.post(url, secrets, webhook_id, body)

    def send_now(self, deliveries: list[Delivery]) -> None:
        """The handler's hook: deliveries just written, claimed for their first attempt."""
        if deliveries:
            self._fresh.extend(deliveries)
            self.wake.set()

    def withdrawn(self, case_id: str) -> None:
        """The handler's hook: the case's notices were cancelled."""
        self._withdrawn[case_id] = None
        self._withdrawn.move_to_end(case_id)
        while len(self._withdrawn) > WITHDRAWN_MEMORY:
            self._withdrawn.popitem(last=False)

    def ask_store(self, in_seconds: float = 0.0) -> None:
        """Something may fall due that memory does not hold: ask the store then (at once by default)."""
        self._asked += 1
        self._ask_store_at = min(self._ask_store_at, time.monotonic() + in_seconds)
        self.wake.set()

    async def rearm(self, case_id: str, types: tuple[str, ...] = ()) -> None:
        if await usecases.rearm(self._queue, self._clock, case_id, types, self._max_attempts):
            with bound_contextvars(case_id=case_id):
                log.info("deliveries_rearmed")
            self.ask_store()

    async def run(self) -> None:
        async with WebhookSender(self._timeout, self._allow_insecure) as sender:
            self._sender = sender
            async def step() -> bool:
                self.wake.clear()
                self._start_fresh(sender)
                if time.monotonic() < self._ask_store_at:
                    return False
                if await self.dispatch_due(sender) > 0:
                    return True  # more may be due: ask again at once
                # Capped: a lease or retry another replica wrote after this query (and
                # that replica then died) is still taken, within a minute.
                asked = self._asked
                next_due = await usecases.next_due(self._queue)
                wait = IDLE_RECHECK_SECONDS
                if next_due is not None:
                    wait = min(wait, max(0.0, (next_due - self._clock.now()).total_seconds()))
                if self._asked == asked:  # else asked meanwhile: that ask stands
                    self._ask_store_at = time.monotonic() + wait
                return False

            async def rest() -> None:
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=max(0.0, self._ask_store_at - time.monotonic()))
                except TimeoutError:
                    pass

            try:
                await backoff.forever(step, rest)
            finally:  # stopping: what is under way is left to its lease
                tasks = list(self._tasks)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if self._people is not None and self._people.mailer is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._people.mailer.aclose(), timeout=2)

    def _start_fresh(self, sender: WebhookSender) -> None:
        while self._fresh:
            self._track(self._send_fresh(sender, self._fresh.popleft()))

    def _held_back(self, delivery: Delivery) -> str | None:
        """Why a new delivery, handed over claimed, is not to begin now that a sender is
        free: CANCELLED, its case was withdrawn meanwhile; UNSENT, it waited too long to
        be sent and recorded within its lease (the store's once the lease runs out, and
        the store is asked then)."""
        if delivery.case_id in self._withdrawn and stopped_by_withdrawal(delivery.kind, delivery.recipient):
            return CANCELLED
        assert delivery.lease_until is not None
        left = (delivery.lease_until - self._clock.now()).total_seconds()
        if left < self.lease_seconds:
            self.ask_store(in_seconds=max(0.0, left))
            return UNSENT
        return None

    async def _send_fresh(self, sender: WebhookSender, delivery: Delivery) -> None:
        async with self._sending:
            if self._held_back(delivery):  # a cancelled webhook: the mark in the store cancels it if claimed again
                return
            try:
                await self._send(sender, delivery)
            except Exception as exc:  # e.g. the store went away recording the outcome: the lease runs out
                log.warning("webhook_outcome_not_recorded", error=type(exc).__name__)
                self.ask_store(in_seconds=self.lease_seconds)

    async def dispatch_due(self, sender: WebhookSender, limit: int = SENDING_AT_ONCE) -> int:
        tasks = []
        while len(tasks) < limit:
            delivery = await usecases.claim_next(self._queue, self._clock, lease_seconds=self.lease_seconds)
            if delivery is None:
                break
            tasks.append(asyncio.create_task(self._send(sender, delivery)))
        await asyncio.gather(*tasks)
        return len(tasks)

    def _attempt(self, delivery: Delivery) -> Callable[..., Attempt]:
        """Starts timing an attempt at `delivery`: call the result with its outcome."""
        at, started = self._clock.now(), time.perf_counter()

        def attempt(outcome: str, status: int | None = None, error: str = "") -> Attempt:
            return Attempt(number=delivery.attempts, at=at, outcome=outcome, status_code=status or 0,
                           error=error, latency_ms=round((time.perf_counter() - started) * 1000))

        return attempt

    async def _send(self, sender: WebhookSender, delivery: Delivery) -> None:
        with bound_contextvars(case_id=delivery.case_id, delivery_id=delivery.delivery_id):
            attempt = self._attempt(delivery)
            if delivery.channel in PERSON_CHANNELS:
                if not await self._record_person(delivery, await self._try_person(delivery, attempt)):
                    log.warning(f"{delivery.channel}_outcome_superseded", attempts=delivery.attempts)
                return
            endpoint, why_not = await usecases.target_of(self._endpoints, delivery)
            if endpoint is None:
                return await self._failed(delivery, attempt("failed", error=why_not))
            body, why_not = await self._body_of(delivery)
            if body is None:
                return await self._failed(delivery, attempt("failed", error=why_not))
            status, error = await sender.post(endpoint.url, endpoint.signing_secrets(self._clock.now()),
                                              delivery.delivery_id, body)
            if status is None:
                return await self._failed(delivery, attempt("failed", error=error))
            if not 200 <= status < 300:
                return await self._failed(delivery, attempt("failed", status, f"receiver answered HTTP {status}"))
            done = attempt("delivered", status)
            if not await usecases.record_delivered(self._transact, self._queue, self._clock, delivery, done):
                log.warning("webhook_outcome_superseded", attempts=delivery.attempts)  # lease was taken over
                return
            await self._endpoints.delivered_to(endpoint)
            metrics.DELIVERY_ATTEMPTS.labels("notify", delivery.channel, "delivered").inc()
            if delivery.kind == OPINION_READY and (told := notice_time(delivery.body)) is not None:
                # The case's last hop, which no consumer's handling causes: the opinion to its delivery.
                metrics.STAGE_SECONDS.labels("opinion.submitted", "opinion.delivered").observe(
                    max(0.0, (self._clock.now() - told).total_seconds()))
            log.info("webhook_delivered", attempts=delivery.attempts, seconds=done.latency_ms / 1000)

    async def _body_of(self, delivery: Delivery) -> tuple[bytes | None, str]:
        """What the webhook posts: the notice as stored; a prior authorization's decision
        with its ClaimResponse read from intake now (never stored here). None and why
        when it cannot be read: the attempt fails and is tried again."""
        if not carries_claim_response(delivery.body):
            return delivery.body, ""
        if self._claims is None:
            return None, "the ClaimResponse cannot be read on this replica (no intake target)"
        try:
            data = json.loads(delivery.body)["data"]
            found = await self._claims(delivery.case_id, f"webhook {delivery.delivery_id}", data.get("decision_id", ""),
                                       data.get("decision_version", 0))
        except ServiceUnavailable:
            return None, "intake did not answer: the ClaimResponse could not be read"
        except grpc.aio.AioRpcError as exc:  # a refusal: the attempt fails (and, repeated, dies and escalates)
            return None, f"intake refused the ClaimResponse: {exc.code().name}"
        if found is None:
            return None, "intake has no such prior authorization"
        tenant_id, claim_response = found
        if tenant_id != delivery.tenant_id:  # never another tenant's, whatever went wrong upstream
            return None, "intake answered with another tenant's prior authorization"
        return with_claim_response(delivery.body, json.loads(claim_response)), ""

    async def _try_person(self, delivery: Delivery, attempt: Callable[..., Attempt]) -> Tried:
        """One attempt at a notice to a person: composed, then handed to its channel.
        Records nothing (the caller does)."""
        people = self._people
        if people is None or delivery.channel not in people.channels:  # written by a replica that has it
            return Tried(FAILED, attempt("failed", error=f"{delivery.channel} is not set up on this replica"))
        try:
            # Bounded before the hand-off only: a send once started runs to its own timeout
            # (cut short, it might reach the person and still count as failed).
            async with asyncio.timeout(COMPOSE_SECONDS):
                prepared = await usecases.compose(people.contacts, people.templates, delivery, sender=people.sender,
                                                  portal_url=people.portal_url, channels=people.channels,
                                                  preferences=people.preferences, now=self._clock.now(),
                                                  reviewers=people.reviewers, operations_email=people.operations_email)
            if prepared.wait_until is not None:
                why = f"{prepared.why_waiting}: waits until {prepared.wait_until.isoformat(timespec='minutes')}"
                return Tried(POSTPONED, attempt("postponed", error=why), prepared.wait_until)
            if prepared.outgoing is None:
                return Tried(SKIPPED, attempt("failed", error=prepared.skipped))
            code, error = await people.send(prepared.outgoing)
        except ServiceUnavailable:
            return Tried(FAILED, attempt("failed", error="contact details not readable now (intake or matching "
                                                         "unavailable)"))
        except TimeoutError:
            return Tried(FAILED, attempt("failed", error="contact details not read in time"))
        except Exception as exc:  # a refusal by intake, a broken template, ...: an attempt, tried again, then dead
            log.warning(f"{delivery.channel}_not_sent", error=type(exc).__name__)
            return Tried(FAILED, attempt("failed", error=f"not sent: {type(exc).__name__}"))
        if code is not None and refused_for_good(delivery.channel, code):  # e.g. no such mailbox, an invalid number
            return Tried(SKIPPED, attempt("failed", code, error))
        if code is None or not 200 <= code < 300:
            return Tried(FAILED, attempt("failed", code, error))
        return Tried(DELIVERED, attempt("delivered", code))

    async def _record_person(self, delivery: Delivery, tried: Tried) -> bool:
        """Records an attempt at a notice to a person that is in the store, claimed for it
        (False: its lease was taken over, or it was written with its outcome already)."""
        if tried.status == UNSENT:  # the store's once its lease runs out (asked then: _held_back)
            return False
        if tried.status == CANCELLED:  # its case was withdrawn before it began
            return await self._queue.mark_cancelled(delivery, self._clock.now())
        assert tried.attempt is not None
        if tried.status == FAILED:
            return await self._failed(delivery, tried.attempt)
        if tried.status == POSTPONED:
            assert tried.wait_until is not None
            if not await usecases.record_postponed(self._queue, delivery, tried.attempt, tried.wait_until,
                                                   self._max_attempts):
                return False
            metrics.DELIVERY_ATTEMPTS.labels("notify", delivery.channel, "postponed").inc()
            self.ask_store()  # learns when it falls due
            return True
        if tried.status == SKIPPED:
            recorded = await usecases.record_skipped(self._queue, delivery, tried.attempt)
        else:
            recorded = await usecases.record_delivered(self._transact, self._queue, self._clock, delivery,
                                                       tried.attempt)
        if recorded:
            _counted(delivery, tried.status, tried.attempt)
        return recorded

    # --- notices to people sent before they are written (usecases.FirstAttempts) ----------
    async def send_first(self, deliveries: list[Delivery]) -> None:
        tasks = [self._first_attempt(d) for d in deliveries]
        if tasks:
            await asyncio.wait(tasks, timeout=SETTLE_SECONDS)

    def ended(self, deliveries: list[Delivery]) -> dict[str, Delivery]:
        now, settled = self._clock.now(), {}
        for delivery in deliveries:
            task = self._first.get(delivery.delivery_id)
            if task is not None and task.done() and not task.cancelled() and task.exception() is None:
                tried = task.result()
                after = settled_at_once(delivery, tried.status, tried.attempt, now)
                if after is not None:
                    settled[delivery.delivery_id] = after
        return settled

    def written(self, inserted: list[Delivery], present: list[Delivery]) -> None:
        for delivery in inserted:
            task = self._first.pop(delivery.delivery_id, None)
            if delivery.status != SENDING:  # written with its outcome
                if delivery.status != CANCELLED:
                    with bound_contextvars(case_id=delivery.case_id, delivery_id=delivery.delivery_id):
                        _counted(delivery, delivery.status, delivery.log[-1])
            elif task is not None:  # claimed for the attempt under way: recorded when it ends
                self._track(self._finish_first(delivery, task))
        for delivery in present:
            # Written by an earlier try of this handler (its write landed, but its answer did
            # not): recorded if it was written claimed. Or by another sender (a rebalance
            # handed the event to two replicas): both may have sent it.
            if (task := self._first.pop(delivery.delivery_id, None)) is not None:
                self._track(self._finish_first(delivery, task, present=True))

    def _first_attempt(self, delivery: Delivery) -> asyncio.Task[Tried]:
        """The first attempt at `delivery`, started now, or the one under way (a repeat of
        its event while the first is not written yet, e.g. the write failed)."""
        task = self._first.get(delivery.delivery_id)
        if task is None:
            task = self._first[delivery.delivery_id] = self._track(self._try_first(delivery))
            while len(self._first) > FIRST_ATTEMPTS_HELD:
                self._first.popitem(last=False)
        return task

    async def _try_first(self, delivery: Delivery) -> Tried:
        with bound_contextvars(case_id=delivery.case_id, delivery_id=delivery.delivery_id):
            async with self._sending:
                if why := self._held_back(delivery):  # written cancelled, or claimed (the store's)
                    return Tried(why, None)
                return await self._try_person(delivery, self._attempt(delivery))

    async def _finish_first(self, delivery: Delivery, task: asyncio.Task[Tried], present: bool = False) -> None:
        """A first attempt written claimed: recorded once it ends, like any other."""
        with bound_contextvars(case_id=delivery.case_id, delivery_id=delivery.delivery_id):
            try:
                tried = await task
            except asyncio.CancelledError:  # stopping: its lease runs out and it is claimed again
                return
            except Exception as exc:  # not expected (_try_person answers every failure): the lease runs out
                log.warning(f"{delivery.channel}_not_sent", error=type(exc).__name__)
                self.ask_store(in_seconds=self.lease_seconds)
                return
            try:
                recorded = await self._record_person(delivery, tried)
            except Exception as exc:  # e.g. the store went away: the lease runs out
                log.warning(f"{delivery.channel}_outcome_not_recorded", error=type(exc).__name__)
                self.ask_store(in_seconds=self.lease_seconds)
                return
            if not recorded and present:
                log.info(f"{delivery.channel}_written_before", outcome=tried.status)
            elif not recorded and tried.status != UNSENT:
                log.warning(f"{delivery.channel}_outcome_superseded", attempts=delivery.attempts)

    def _track(self, work: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _failed(self, delivery: Delivery, attempt: Attempt) -> None:
        error = attempt.error
        outcome = await usecases.record_failed(self._transact, self._queue, self._clock, delivery, attempt,
                                               self._max_attempts, self._disable_after_dead, self._retry_base,
                                               escalate=self._people is not None and self._people.escalates)
        if outcome in ("retrying", "dead"):
            self.ask_store()  # learns when it falls due (a death's escalation is due now)
        if outcome == "dead":
            self._endpoints.forget(delivery.tenant_id)  # its endpoint's count of deaths changed
        if outcome:
            metrics.DELIVERY_ATTEMPTS.labels("notify", delivery.channel, outcome).inc()
        log.warning(f"{delivery.channel}_failed", attempt=delivery.attempts, error=error,
                    outcome=outcome or "superseded", gave_up=outcome == "dead")

"""A tenant's webhook endpoints: subscriptions, fan-out, secret rotation with an
overlap, and disabling after repeated deaths; domain rules and use cases over
in-memory fakes."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.v1 import case_pb2, events_pb2
from services.notify import usecases
from services.notify.domain.deliveries import DEAD, Attempt
from services.notify.domain.endpoints import (
    DEFAULT_OVERLAP,
    MAX_ENDPOINTS,
    Endpoint,
    Secret,
    check_endpoint,
    check_overlap,
)
from services.notify.domain.webhooks import headers, new_secret
from tests.conftest import eventually
from tests.fakes.notify import InMemoryDeliveries, InMemoryDeliveryQueue, InMemoryEndpoints, notify_transact
from tests.fakes.transact import Committed

LEASE = 10


def _failed(error: str) -> Attempt:
    return Attempt(number=1, at=FakeClock().now(), outcome="failed", error=error)


async def _public(host, port):
    return None


def _opinion(case_id="c1", tenant="t1"):
    return new_event(events_pb2.OpinionSubmitted(assignment_id="a1", specialist_id="s1", opinion_id="o1",
                                                 diagnosis_concordance=case_pb2.CONCORDANCE_SAME,
                                                 treatment_concordance=case_pb2.CONCORDANCE_SAME),
                     case_id=case_id, tenant_id=tenant, producer="review")


def _needs_info(case_id="c1", tenant="t1"):
    return new_event(events_pb2.InfoRequested(assignment_id="a1", request_id="r1", question_count=1),
                     case_id=case_id, tenant_id=tenant, producer="review")


async def _create(endpoints, clock, tenant="t1", url="https://hooks.example.org/a", event_types=(), description=""):
    return await usecases.create_endpoint(endpoints, _public, clock, tenant_id=tenant, created_by="admin", url=url,
                                          event_types=list(event_types), description=description,
                                          allow_insecure=False)


# --- domain -------------------------------------------------------------------------
def test_a_new_endpoint_names_every_wrong_field_at_once():
    violations = check_endpoint("http://hooks.example.org/x", ["case.opinion_ready", "case.nonsense",
                                                               "case.opinion_ready"], "x" * 201, False)
    assert violations == [
        ("url", "must use https"),
        ("event_types[1]", "must be one of case.submitted, case.matching, case.waiting, case.offered, case.unmatched, "
                           "case.assigned, case.in_review, case.needs_info, case.opinion_ready, "
                           "case.opinion_amended, case.withdrawn"),
        ("event_types", "must not repeat a type"),
        ("description", "must be at most 200 characters"),
    ]
    assert check_endpoint("https://hooks.example.org/x", [], "Claims team", False) == []


def test_a_rotation_keeps_the_previous_secret_signing_for_the_overlap_only():
    clock = FakeClock()
    old, new = new_secret(), new_secret()
    endpoint = Endpoint("ep1", "t1", "https://h.example.org", (Secret(old),))
    rotated = endpoint.rotated(new, clock.now(), timedelta(hours=1))
    assert rotated.secret == new and rotated.signing_secrets(clock.now()) == [new, old]
    assert rotated.previous_expires_at(clock.now()) == clock.now() + timedelta(hours=1)
    clock.advance(3601)
    assert rotated.signing_secrets(clock.now()) == [new] and rotated.previous_expires_at(clock.now()) is None
    again = rotated.rotated(new_secret(), clock.now(), timedelta(0))  # no overlap: the old one stops at once
    assert again.signing_secrets(clock.now()) == [again.secret]


def test_rotations_in_a_row_sign_with_at_most_three_secrets():
    clock = FakeClock()
    endpoint = Endpoint("ep1", "t1", "https://h.example.org", (Secret(new_secret()),))
    for _ in range(5):
        endpoint = endpoint.rotated(new_secret(), clock.now(), DEFAULT_OVERLAP)
    assert len(endpoint.signing_secrets(clock.now())) == 3


def test_during_an_overlap_a_receiver_with_either_secret_verifies_the_reference_way():
    old, new = new_secret(), new_secret()
    body = b'{"type":"case.opinion_ready"}'
    sent = headers([new, old], "msg_1", int(time.time()), body)  # the receiver checks the time: now
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, sent) == {"type": "case.opinion_ready"}
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(new_secret()).verify(body, sent)


def test_overlap_bounds():
    assert check_overlap(0) == (DEFAULT_OVERLAP, [])
    assert check_overlap(60) == (timedelta(seconds=60), [])
    assert check_overlap(8 * 86400)[1][0][0] == "overlap_seconds"
    assert check_overlap(-1)[1][0][0] == "overlap_seconds"


# --- use cases ------------------------------------------------------------------------
async def test_each_notice_goes_once_to_every_endpoint_that_receives_its_type():
    transact, clock, sent = notify_transact(), FakeClock(), []
    endpoints = InMemoryEndpoints()
    everything = await _create(endpoints, clock, url="https://hooks.example.org/all")
    opinions = await _create(endpoints, clock, url="https://hooks.example.org/opinions",
                             event_types=["case.opinion_ready"])
    stopped = await _create(endpoints, clock, url="https://hooks.example.org/off")
    await usecases.disable_endpoint(endpoints, tenant_id="t1", endpoint_id=stopped.endpoint_id, reason="",
                                    disabled_by="admin")
    await _create(endpoints, clock, tenant="t2", url="https://hooks.example.org/other")  # another tenant's
    deliveries = Committed(transact, InMemoryDeliveries)
    event = _opinion()
    assert await usecases.record_notices(deliveries, endpoints, [event], clock, sent.extend, LEASE) == [True]
    assert sorted(d.recipient for d in sent) == sorted([everything.endpoint_id, opinions.endpoint_id])
    assert await usecases.record_notices(deliveries, endpoints, [event], clock, sent.extend, LEASE) == [False]
    assert len(transact.state.deliveries) == 2  # a repeat adds nothing
    sent.clear()
    await usecases.record_notices(deliveries, endpoints, [_needs_info()], clock, sent.extend, LEASE)
    assert [d.recipient for d in sent] == [everything.endpoint_id]  # the other subscribes to opinions only


async def test_a_tenant_without_a_receiving_endpoint_gets_a_delivery_that_waits_for_one():
    transact, clock, sent = notify_transact(), FakeClock(), []
    endpoints = InMemoryEndpoints()
    await usecases.record_notices(Committed(transact, InMemoryDeliveries), endpoints, [_opinion()], clock,
                                  sent.extend, LEASE)
    [waiting] = sent
    assert waiting.recipient == "t1" and not waiting.to_endpoint
    assert await usecases.target_of(endpoints, waiting) == (
        None, "the tenant has no enabled webhook endpoint for case.opinion_ready")
    await _create(endpoints, clock, url="https://hooks.example.org/needs-info", event_types=["case.needs_info"])
    later = await _create(endpoints, clock, url="https://hooks.example.org/later")
    assert await usecases.target_of(endpoints, waiting) == (later, "")


async def test_deaths_in_a_row_disable_the_endpoint_once_with_an_operations_event():
    transact, clock, sent = notify_transact(), FakeClock(), []
    endpoints = Committed(transact, InMemoryEndpoints)  # what the transactions committed
    endpoint = await _create(endpoints, clock)
    for case_id in ("c1", "c2", "c3"):
        await usecases.record_notices(Committed(transact, InMemoryDeliveries), endpoints, [_opinion(case_id)],
                                      clock, sent.extend, LEASE)
    outcomes = [await usecases.record_failed(transact, InMemoryDeliveryQueue(transact), clock, d, _failed("HTTP 500"),
                                             max_attempts=1, disable_after_dead=2) for d in sent]
    assert outcomes == ["dead", "dead", "dead"]
    assert [d.status for d in transact.state.deliveries.values()] == [DEAD] * 3
    types = [e.type for e in transact.committed]
    assert types == ["delivery.dead", "delivery.dead", "endpoint.disabled", "delivery.dead"]
    disabled = transact.committed[2]
    assert disabled.case_id == endpoint.endpoint_id and disabled.endpoint_disabled.consecutive_dead == 2
    [now] = await endpoints.of_tenant("t1")
    assert not now.enabled and now.disabled_reason == "2 deliveries in a row died"
    assert await usecases.target_of(endpoints, sent[0]) == (None, "the webhook endpoint is disabled")
    enabled = await usecases.enable_endpoint(endpoints, tenant_id="t1", endpoint_id=endpoint.endpoint_id)
    assert enabled.enabled and enabled.consecutive_dead == 0


async def test_a_failure_that_is_not_the_last_attempt_only_schedules_a_retry():
    transact, clock, sent = notify_transact(), FakeClock(), []
    endpoints = Committed(transact, InMemoryEndpoints)  # what the transactions committed
    await _create(endpoints, clock)
    await usecases.record_notices(Committed(transact, InMemoryDeliveries), endpoints, [_opinion()], clock,
                                  sent.extend, LEASE)
    assert await usecases.record_failed(transact, InMemoryDeliveryQueue(transact), clock, sent[0], _failed("HTTP 500"),
                                        max_attempts=3, disable_after_dead=1) == "retrying"
    assert transact.committed == [] and (await endpoints.of_tenant("t1"))[0].consecutive_dead == 0


async def test_endpoints_are_the_tenants_own_and_limited_in_number():
    endpoints, clock = InMemoryEndpoints(), FakeClock()
    mine = await _create(endpoints, clock)
    with pytest.raises(usecases.UnknownEndpoint):
        await usecases.rotate_secret(endpoints, clock, tenant_id="t2", endpoint_id=mine.endpoint_id,
                                     overlap_seconds=0)
    with pytest.raises(usecases.UnknownEndpoint):
        await usecases.disable_endpoint(endpoints, tenant_id="t2", endpoint_id=mine.endpoint_id, reason="",
                                        disabled_by="x")
    with pytest.raises(usecases.UnknownEndpoint):
        await usecases.send_test_event(endpoints, None, clock, tenant_id="t2", endpoint_id=mine.endpoint_id,
                                       under_way=usecases.TestsUnderWay())
    assert await usecases.list_endpoints(endpoints, "t2") == []
    for i in range(MAX_ENDPOINTS - 1):
        await _create(endpoints, clock, url=f"https://hooks.example.org/{i}")
    with pytest.raises(usecases.TooManyEndpoints):
        await _create(endpoints, clock, url="https://hooks.example.org/one-too-many")
    with pytest.raises(usecases.InvalidWebhook) as info:
        await _create(endpoints, clock, tenant="t3", url="https://hooks.example.org/x", event_types=["case.x"])
    assert info.value.violations[0][0] == "event_types[0]"
    assert await usecases.list_endpoints(endpoints, "t3") == []  # nothing written on a refusal


async def test_a_rotation_returns_a_new_secret_and_keeps_the_old_one_for_the_overlap():
    endpoints, clock = InMemoryEndpoints(), FakeClock()
    created = await _create(endpoints, clock)
    rotated = await usecases.rotate_secret(endpoints, clock, tenant_id="t1", endpoint_id=created.endpoint_id,
                                           overlap_seconds=600)
    assert rotated.secret != created.secret
    [stored] = await endpoints.of_tenant("t1")
    assert stored.signing_secrets(clock.now()) == [rotated.secret, created.secret]
    with pytest.raises(usecases.InvalidWebhook):
        await usecases.rotate_secret(endpoints, clock, tenant_id="t1", endpoint_id=created.endpoint_id,
                                     overlap_seconds=10**7)


async def test_two_changes_from_the_same_read_cannot_both_land():
    endpoints, clock = InMemoryEndpoints(), FakeClock()
    created = await _create(endpoints, clock)
    stale = created
    await usecases.rotate_secret(endpoints, clock, tenant_id="t1", endpoint_id=created.endpoint_id,
                                 overlap_seconds=0)
    assert await endpoints.save(stale, stale.disabled("late")) is False


async def test_a_test_event_is_signed_with_every_secret_that_signs_and_reports_the_answer():
    endpoints, clock = InMemoryEndpoints(), FakeClock()
    created = await _create(endpoints, clock)
    await usecases.rotate_secret(endpoints, clock, tenant_id="t1", endpoint_id=created.endpoint_id,
                                 overlap_seconds=60)
    posted = []

    async def post(url, secrets, webhook_id, body):
        posted.append((url, secrets, body))
        return 500, ""

    webhook_id, status, error, _ = await usecases.send_test_event(endpoints, post, clock, tenant_id="t1",
                                                                  endpoint_id=created.endpoint_id,
                                                                  under_way=usecases.TestsUnderWay())
    assert (status, error) == (500, "receiver answered HTTP 500") and webhook_id.startswith("test_")
    [(url, secrets, body)] = posted
    assert url == created.url and len(secrets) == 2 and b'"type":"webhook.test"' in body


async def _now(value):
    return value


async def test_a_tenant_has_at_most_two_test_events_waiting_on_its_receivers_and_others_are_not_held():
    endpoints, clock, under_way = InMemoryEndpoints(), FakeClock(), usecases.TestsUnderWay()
    slow = await _create(endpoints, clock)
    other = await _create(endpoints, clock, tenant="t2")
    answer, waiting = asyncio.Event(), []

    async def post(url, secrets, webhook_id, body):
        waiting.append(url)
        await answer.wait()  # a receiver that has not answered yet
        return 204, ""

    def test(tenant, endpoint):
        return asyncio.ensure_future(usecases.send_test_event(endpoints, post, clock, tenant_id=tenant,
                                                              endpoint_id=endpoint.endpoint_id, under_way=under_way))

    held = [test("t1", slow), test("t1", slow)]
    await eventually(lambda: _now(len(waiting) == 2), 5, "both tests to wait on the receiver")
    with pytest.raises(usecases.TooManyTests, match="2 test events of this tenant are under way"):
        await usecases.send_test_event(endpoints, post, clock, tenant_id="t1", endpoint_id=slow.endpoint_id,
                                       under_way=under_way)
    theirs = test("t2", other)  # another tenant's test is not refused
    await eventually(lambda: _now(len(waiting) == 3), 5, "the other tenant's test to be sent")
    answer.set()
    assert [r[1] for r in await asyncio.gather(*held, theirs)] == [204, 204, 204]
    assert (await test("t1", slow))[1] == 204  # answered: the tenant may test again


async def test_the_delivery_log_is_the_tenants_own_and_only_a_dead_delivery_is_retried():
    transact, clock, sent = notify_transact(), FakeClock(), []
    endpoints = Committed(transact, InMemoryEndpoints)
    await _create(endpoints, clock)
    await usecases.record_notices(Committed(transact, InMemoryDeliveries), endpoints, [_opinion("c9")], clock,
                                  sent.extend, LEASE)
    queue = InMemoryDeliveryQueue(transact)
    await usecases.record_failed(transact, queue, clock, sent[0], _failed("receiver answered HTTP 500"),
                                 max_attempts=1, disable_after_dead=0)
    with pytest.raises(usecases.UnknownDeliveries):
        await usecases.list_deliveries(queue, case_id="c9", tenants=frozenset({"t2"}))
    [dead] = await usecases.list_deliveries(queue, case_id="c9", tenants=frozenset({"t1"}))
    assert dead.status == DEAD and [(a.outcome, a.error) for a in dead.log] == [
        ("failed", "receiver answered HTTP 500")]
    with pytest.raises(usecases.UnknownDeliveries):
        await usecases.retry_delivery(queue, clock, delivery_id=dead.delivery_id, tenants=frozenset({"t2"}),
                                      max_attempts=3)
    retried = await usecases.retry_delivery(queue, clock, delivery_id=dead.delivery_id, tenants=frozenset({"t1"}),
                                            max_attempts=3)
    assert retried.status == "pending" and retried.attempt_budget == 4
    with pytest.raises(usecases.NotRetryable):  # pending now: not dead
        await usecases.retry_delivery(queue, clock, delivery_id=dead.delivery_id, tenants=frozenset({"t1"}),
                                      max_attempts=3)
    claimed = await usecases.claim_next(queue, clock, lease_seconds=LEASE)
    assert claimed.delivery_id == dead.delivery_id and claimed.attempts == 2


async def test_an_opinion_taken_by_two_endpoints_is_one_stage_and_routing_happens_once():
    transact, clock, sent = notify_transact(), FakeClock(), []
    endpoints = Committed(transact, InMemoryEndpoints)
    await _create(endpoints, clock, url="https://hooks.example.org/a")
    await _create(endpoints, clock, url="https://hooks.example.org/b")
    event = _opinion()
    deliveries = Committed(transact, InMemoryDeliveries)
    await usecases.record_notices(deliveries, endpoints, [event], clock, sent.extend, LEASE)
    assert len(sent) == 2
    queue = InMemoryDeliveryQueue(transact)
    for delivery in sent:
        done = Attempt(number=1, at=clock.now(), outcome="delivered", status_code=204)
        assert await usecases.record_delivered(transact, queue, clock, delivery, done)
    first, second = transact.committed
    assert first.type == second.type == "opinion.delivered" and first.event_id == second.event_id  # intake: once
    # The event again (a redrive) after a third endpoint appeared: no new webhook for it.
    await _create(endpoints, clock, url="https://hooks.example.org/c")
    again: list = []
    assert await usecases.record_notices(deliveries, endpoints, [event], clock, again.extend, LEASE) == [False]
    assert again == [] and len(transact.state.deliveries) == 2

"""notify's use cases with in-memory fakes: no broker, no store, no HTTP."""

from __future__ import annotations

import time

import pytest

from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.v1 import case_pb2, events_pb2
from services.notify import usecases
from services.notify.dispatcher import Dispatcher
from services.notify.domain.deliveries import (
    CANCELLED,
    DELIVERED,
    PENDING,
    SENDING,
    Attempt,
)
from services.notify.domain.endpoints import Endpoint, Secret
from tests.fakes.notify import InMemoryDeliveries, InMemoryDeliveryQueue, InMemoryEndpoints, notify_transact
from tests.fakes.transact import Committed


def _opinion_submitted(case_id="c1"):
    return new_event(events_pb2.OpinionSubmitted(assignment_id="a1", specialist_id="s1", opinion_id="o1",
                                                 diagnosis_concordance=case_pb2.CONCORDANCE_SAME,
                                                 treatment_concordance=case_pb2.CONCORDANCE_REFINED),
                     case_id=case_id, tenant_id="t1", producer="review")


LEASE = 10


def _attempt(outcome: str, status: int = 0, error: str = "") -> Attempt:
    return Attempt(number=1, at=FakeClock().now(), outcome=outcome, status_code=status, error=error)


async def _recorded(transact, clock, event, sent):
    [added] = await usecases.record_notices(Committed(transact, InMemoryDeliveries), InMemoryEndpoints(), [event],
                                            clock, sent.extend, lease_seconds=LEASE)
    return added


async def _fail(transact, clock, delivery, max_attempts, disable_after_dead=0):
    return await usecases.record_failed(transact, InMemoryDeliveryQueue(transact), clock, delivery, _attempt("failed", 503, "HTTP 503"),
                                        max_attempts=max_attempts, disable_after_dead=disable_after_dead)


async def _failed_first_attempt(transact, clock, event) -> None:
    """Records the event's delivery and fails the attempt it was handed over for."""
    sent = []
    await _recorded(transact, clock, event, sent)
    await _fail(transact, clock, sent[0], max_attempts=9)
    clock.advance(600)


async def test_one_delivery_per_event_written_claimed_and_handed_over_once_durable():
    transact, clock, sent = notify_transact(), FakeClock(), []
    event = _opinion_submitted()
    assert await _recorded(transact, clock, event, sent) is True
    assert await _recorded(transact, clock, event, sent) is False  # a repeat: left to whoever wrote it
    [delivery] = transact.state.deliveries.values()
    assert sent == [delivery]  # handed over once, as written
    assert (delivery.status, delivery.attempts, delivery.recipient, delivery.channel) == (SENDING, 1, "t1", "webhook")
    assert b'"treatment_concordance":"REFINED"' in delivery.body
    queue = InMemoryDeliveryQueue(transact)
    assert await usecases.claim_next(queue, clock, lease_seconds=LEASE) is None  # claimed by its writer
    clock.advance(LEASE + 1)  # its writer died before sending it: the lease runs out
    taken = await usecases.claim_next(queue, clock, lease_seconds=LEASE)
    assert taken.delivery_id == delivery.delivery_id and taken.attempts == 2


async def test_the_submitter_hears_of_a_request_for_more_information_without_its_questions():
    transact, clock, sent = notify_transact(), FakeClock(), []
    asked = new_event(events_pb2.InfoRequested(assignment_id="a1", specialist_id="s1", request_id="r1",
                                               question_count=2), case_id="c1", tenant_id="t1", producer="review")
    [added] = await usecases.record_notices(Committed(transact, InMemoryDeliveries), InMemoryEndpoints(), [asked],
                                            clock, sent.extend, lease_seconds=LEASE)
    assert added
    [delivery] = sent
    assert b'"type":"case.needs_info"' in delivery.body and b'"question_count":2' in delivery.body
    assert delivery.kind == "needs_info" and delivery.recipient == "t1"
    assert await usecases.record_delivered(transact, InMemoryDeliveryQueue(transact), clock, delivery, _attempt("delivered", 204)) is True
    assert transact.committed == []  # not a stage of the case: no opinion.delivered
    assert transact.state.deliveries[delivery.delivery_id].status == DELIVERED


async def test_a_delivered_notice_commits_with_its_event_and_a_taken_over_attempt_records_nothing():
    transact, clock, sent = notify_transact(), FakeClock(), []
    await _recorded(transact, clock, _opinion_submitted(), sent)
    queue = InMemoryDeliveryQueue(transact)
    [first] = sent
    clock.advance(LEASE + 1)  # the first sender stalls past its lease; another takes the delivery over
    second = await usecases.claim_next(queue, clock, lease_seconds=10)
    assert (first.attempts, second.attempts) == (1, 2)
    assert await usecases.record_delivered(transact, InMemoryDeliveryQueue(transact), clock, first, _attempt("delivered", 204)) is False  # fenced
    assert transact.committed == []
    assert await usecases.record_delivered(transact, InMemoryDeliveryQueue(transact), clock, second, _attempt("delivered", 204)) is True
    [delivered] = transact.committed
    assert delivered.type == "opinion.delivered" and delivered.opinion_delivered.attempts == 2
    assert delivered.causation_id == second.event_id
    assert transact.state.deliveries[second.delivery_id].status == DELIVERED


async def test_failed_attempts_back_off_then_die_and_a_redrive_rearms_them():
    transact, clock, sent = notify_transact(), FakeClock(), []
    await _recorded(transact, clock, _opinion_submitted(), sent)
    queue = InMemoryDeliveryQueue(transact)
    outcomes = []
    for _ in range(3):
        delivery = sent.pop() if sent else await usecases.claim_next(queue, clock, lease_seconds=10)
        outcomes.append(await _fail(transact, clock, delivery, max_attempts=3))
        clock.advance(600)
    assert outcomes == ["retrying", "retrying", "dead"]
    [dead] = transact.committed  # the escalation, for operations
    assert dead.type == "delivery.dead" and dead.delivery_dead.attempts == 3
    assert dead.delivery_dead.last_error == "HTTP 503" and dead.delivery_dead.endpoint_id == ""
    assert await usecases.claim_next(queue, clock, lease_seconds=10) is None
    assert await usecases.rearm(queue, clock, "c1", ("specialist.offered",), 3) == 0  # not a delivery stage
    assert await usecases.rearm(queue, clock, "c1", ("opinion.submitted", "opinion.delivered"), 3) == 1
    again = await usecases.claim_next(queue, clock, lease_seconds=10)
    assert again.attempts == 4 and again.attempt_budget == 6
    assert transact.state.deliveries[again.delivery_id].status == SENDING


async def test_a_webhook_is_registered_only_for_a_url_and_host_that_pass():
    endpoints, clock = InMemoryEndpoints(), FakeClock()

    async def inward(host, port):
        return "must not resolve to a loopback, private or link-local address"

    async def public(host, port):
        return None

    with pytest.raises(usecases.InvalidWebhook) as info:
        await usecases.register_webhook(endpoints, public, clock, tenant_id="t1", registered_by="admin",
                                        url="http://hooks.example.org/x", allow_insecure=False)
    assert info.value.violations == [("url", "must use https")]
    with pytest.raises(usecases.InvalidWebhook):
        await usecases.register_webhook(endpoints, inward, clock, tenant_id="t1", registered_by="admin",
                                        url="https://inward.example.org/x", allow_insecure=False)
    assert endpoints.endpoints == {}
    endpoint = await usecases.register_webhook(endpoints, public, clock, tenant_id="t1", registered_by="admin",
                                               url="https://hooks.example.org/x", allow_insecure=False)
    [stored] = endpoints.endpoints.values()
    assert endpoint.secret.startswith("whsec_") and (stored.secret, stored.version) == (endpoint.secret, 1)
    again = await usecases.register_webhook(endpoints, public, clock, tenant_id="t1", registered_by="admin",
                                            url="https://hooks.example.org/y", allow_insecure=False)
    [replaced] = endpoints.endpoints.values()
    assert again.endpoint_id == endpoint.endpoint_id and (replaced.url, replaced.secret) == (again.url, again.secret)
    assert replaced.version == 2  # a change read before the replacement cannot land


async def test_a_withdrawn_cases_undelivered_notices_are_cancelled_and_never_claimed():
    transact, clock = notify_transact(), FakeClock()
    await _failed_first_attempt(transact, clock, _opinion_submitted("c1"))  # both waiting for a retry
    await _failed_first_attempt(transact, clock, _opinion_submitted("c2"))
    queue = InMemoryDeliveryQueue(transact)
    withdrawn = new_event(events_pb2.AssignmentsWithdrawn(assignment_ids=["a1"]), case_id="c1", tenant_id="t1",
                          producer="review")
    told = []
    assert await usecases.cancel_deliveries(queue, clock, withdrawn, told.append) is True
    assert told == ["c1"]  # the sender hears of it
    assert {d.case_id: d.status for d in transact.state.deliveries.values()} == {"c1": CANCELLED, "c2": PENDING}
    claimed = await usecases.claim_next(queue, clock, lease_seconds=10)
    assert claimed.case_id == "c2" and await usecases.claim_next(queue, clock, lease_seconds=10) is None
    assert await usecases.rearm(queue, clock, "c1", (), 3) == 0  # a redrive does not bring it back


async def test_a_notice_being_sent_when_its_case_is_withdrawn_is_cancelled_if_that_attempt_fails():
    transact, clock, sending = notify_transact(), FakeClock(), []
    await _recorded(transact, clock, _opinion_submitted("c1"), sending)  # both being sent, by their writer
    await _recorded(transact, clock, _opinion_submitted("c2"), sending)
    queue = InMemoryDeliveryQueue(transact)
    for case_id in ("c1", "c2"):
        withdrawn = new_event(events_pb2.AssignmentsWithdrawn(), case_id=case_id, tenant_id="t1", producer="review")
        assert await usecases.cancel_deliveries(queue, clock, withdrawn, lambda case_id: None) is True
    by_case = {d.case_id: d for d in sending}
    assert await _fail(transact, clock, by_case["c1"], max_attempts=3) == "cancelled"
    assert transact.state.deliveries[by_case["c1"].delivery_id].status == CANCELLED
    clock.advance(11)  # c2's sender died mid-send: its lease runs out
    assert await usecases.claim_next(queue, clock, lease_seconds=10) is None
    assert transact.state.deliveries[by_case["c2"].delivery_id].status == CANCELLED


class _Sender:
    def __init__(self):
        self.posted: list[str] = []

    async def post(self, url, secrets, webhook_id, body):
        self.posted.append(webhook_id)
        return 204, ""


async def test_the_dispatcher_sends_what_it_is_handed_unless_its_case_was_withdrawn_or_its_lease_is_too_short():
    transact, clock = notify_transact(), FakeClock()
    endpoints = InMemoryEndpoints()
    await endpoints.put_default(Endpoint("ep1", "t1", "https://hooks.example.org/x", (Secret("whsec_eA=="),)))
    dispatcher = Dispatcher(transact, InMemoryDeliveryQueue(transact), endpoints, clock, timeout=5, max_attempts=3,
                            allow_insecure_targets=False)
    sent: list = []
    for case_id in ("kept", "withdrawn", "late"):
        await usecases.record_notices(Committed(transact, InMemoryDeliveries), endpoints, [_opinion_submitted(case_id)],
                                      clock, sent.extend, lease_seconds=dispatcher.fresh_lease_seconds)
    kept, withdrawn, late = sent
    dispatcher.withdrawn("withdrawn")
    sender = _Sender()
    await dispatcher._send_fresh(sender, kept)
    await dispatcher._send_fresh(sender, withdrawn)
    clock.advance(dispatcher.fresh_lease_seconds - dispatcher.lease_seconds + 1)  # waited too long for a sender
    dispatcher._ask_store_at = time.monotonic() + 3600  # the store was asked lately: nothing due for an hour
    await dispatcher._send_fresh(sender, late)
    assert sender.posted == [kept.delivery_id]
    assert transact.state.deliveries[kept.delivery_id].status == DELIVERED
    assert transact.state.deliveries[late.delivery_id].status == SENDING  # the store's, once its lease runs out:
    assert dispatcher._ask_store_at < time.monotonic() + dispatcher.lease_seconds  # asked about then


@pytest.mark.parametrize("channel, code, for_good", [
    ("email", 550, True), ("email", 554, True), ("email", 451, False), ("email", 421, False),
    ("sms", 400, True), ("sms", 404, True), ("sms", 429, False), ("sms", 503, False), ("sms", 500, False),
])
def test_only_a_refusal_no_retry_changes_ends_a_notice_to_a_person(channel, code, for_good):
    from services.notify.dispatcher import refused_for_good
    assert refused_for_good(channel, code) is for_good


class _BodySender:
    def __init__(self):
        self.bodies: list[bytes] = []

    async def post(self, url, secrets, webhook_id, body):
        self.bodies.append(body)
        return 204, ""


def _prior_auth_decided(case_id="pa1"):
    return new_event(events_pb2.OpinionSubmitted(
        assignment_id="a1", specialist_id="s1", opinion_id="d1", version=1, prior_auth_decisions=[
            case_pb2.ItemDecision(item_key="1", action=case_pb2.ITEM_ACTION_APPROVE),
            case_pb2.ItemDecision(item_key="2", action=case_pb2.ITEM_ACTION_DENY, reason_code="NOT_MEDICALLY_NECESSARY",
                                  provider_text="never in events")]),
        case_id=case_id, tenant_id="t1", producer="review")


async def test_a_prior_authorizations_decision_goes_to_the_submitter_with_its_claim_response_read_at_send_time():
    import json

    from secondlook.serviceclient import ServiceUnavailable

    transact, clock = notify_transact(), FakeClock()
    endpoints = InMemoryEndpoints()
    await endpoints.put_default(Endpoint("ep1", "t1", "https://hooks.example.org/x", (Secret("whsec_eA=="),)))
    answers: list = [ServiceUnavailable("intake down"), ("t2", b"{}"),
                     ("t1", b'{"resourceType": "ClaimResponse", "preAuthRef": "pa1"}')]
    asked: list = []

    async def claims(case_id, purpose, decision_id, decision_version=0):
        asked.append((case_id, purpose, decision_id))
        assert decision_version == 1  # the notice's decision_version, for the response's meta.versionId
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    dispatcher = Dispatcher(transact, InMemoryDeliveryQueue(transact), endpoints, clock, timeout=5, max_attempts=3,
                            allow_insecure_targets=False, claims=claims)
    sent: list = []
    await usecases.record_notices(Committed(transact, InMemoryDeliveries), endpoints, [_prior_auth_decided()], clock,
                                  sent.extend, lease_seconds=dispatcher.fresh_lease_seconds)
    [delivery] = sent
    stored = json.loads(delivery.body)
    assert stored["type"] == "case.opinion_ready" and "claim_response" not in stored["data"]
    assert stored["data"]["decision_id"] == "d1" and stored["data"]["review_actions"] == [
        {"item": "1", "review_action": "A1"},
        {"item": "2", "review_action": "A3", "reason_code": "NOT_MEDICALLY_NECESSARY"}]
    assert b"never in events" not in delivery.body
    sender = _BodySender()
    await dispatcher._send_fresh(sender, delivery)  # intake is down: the attempt fails, nothing is posted
    assert sender.bodies == [] and transact.state.deliveries[delivery.delivery_id].last_error.startswith("intake")
    for _ in range(2):  # another tenant's answer fails the attempt too; then the right one is sent
        clock.advance(3600)
        retried = await usecases.claim_next(InMemoryDeliveryQueue(transact), clock, lease_seconds=10)
        await dispatcher._send(sender, retried)
    [posted] = sender.bodies
    assert json.loads(posted)["data"]["claim_response"] == {"resourceType": "ClaimResponse", "preAuthRef": "pa1"}
    assert asked == [("pa1", f"webhook {delivery.delivery_id}", "d1")] * 3
    assert transact.state.deliveries[delivery.delivery_id].status == DELIVERED

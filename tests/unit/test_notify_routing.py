"""notify's routing: every event that sets a case's status is a notice to the tenant's
endpoints that subscribe to its type, the people it concerns hear of what they must,
an event nobody hears of costs nothing, and a withdrawal stops only what it should."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from google.protobuf import timestamp_pb2
from standardwebhooks.webhooks import Webhook

from secondlook.clock import FakeClock
from secondlook.events import KNOWN_TYPES
from secondlook.v1 import case_pb2, events_pb2
from services import topology
from services.notify import usecases
from services.notify.domain.deliveries import CANCELLED, DELIVERED, PENDING, Attempt
from services.notify.domain.endpoints import Endpoint, Secret
from services.notify.domain.routing import DEFAULT_ENDPOINT_TYPES, EVENT_TYPES, ROUTES, route_of
from services.notify.domain.webhooks import headers, new_secret
from tests.fakes.notify import (
    InMemoryDeliveries,
    InMemoryDeliveryQueue,
    InMemoryEndpoints,
    lifecycle_event,
    notify_transact,
)

LEASE = 10
EVERYTHING = frozenset({"email", "sms"})


class CountingDeliveries(InMemoryDeliveries):
    """Counts the store requests a batch costs."""

    def __init__(self, state):
        super().__init__(state)
        self.requests = 0

    async def add_many(self, deliveries):
        self.requests += 1
        return await super().add_many(deliveries)

    async def written(self, events):
        self.requests += 1
        return await super().written(events)


def _endpoint(endpoint_id: str, event_types=(), tenant="t1", default=False) -> Endpoint:
    return Endpoint(endpoint_id=endpoint_id, tenant_id=tenant, url=f"https://hooks.example.org/{endpoint_id}",
                    secrets=(Secret(new_secret()),), event_types=tuple(event_types), default=default)


async def _route(events, endpoints, channels=EVERYTHING, transact=None, escalate=False):
    transact = transact or notify_transact()
    deliveries, sent = CountingDeliveries(transact.state), []
    outcome = await usecases.record_notices(deliveries, endpoints, events, FakeClock(), sent.extend, LEASE,
                                            channels=channels, escalate=escalate)
    return outcome, sent, deliveries.requests, transact


def test_every_route_is_an_event_notify_consumes():
    assert set(ROUTES) <= KNOWN_TYPES
    producers = {"case": "intake", "matching": "matching", "specialist": "matching"}
    topics = set(topology.CONSUMES["notify"])
    for event_type in ROUTES:
        producer = {"case.unmatched": "matching", "case.waiting": "matching"}.get(event_type) \
            or producers.get(event_type.split(".")[0], "review")
        assert topology.PRODUCES[producer] in topics, event_type
    assert set(DEFAULT_ENDPOINT_TYPES) <= set(EVENT_TYPES)
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES))


async def test_a_status_reaches_the_endpoints_that_subscribe_to_it_signed_with_its_facts():
    endpoints = InMemoryEndpoints()
    everything, offered_only = _endpoint("ep_all"), _endpoint("ep_off", ["case.offered", "case.unmatched"])
    legacy = _endpoint("ep_def", DEFAULT_ENDPOINT_TYPES, default=True)
    for e in (everything, offered_only, legacy):
        await endpoints.add(e, 10)
    unmatched = lifecycle_event("case.unmatched", reason="nobody", cause=events_pb2.UNMATCHED_CAUSE_NOBODY_ELIGIBLE)
    accepted = lifecycle_event("assignment.accepted", assignment_id="a1", specialist_id="s1")
    outcome, sent, _, _ = await _route([unmatched, accepted], endpoints)
    assert outcome == [True, True]
    assert sorted((d.event_type, d.recipient) for d in sent) == [
        ("case.assigned", "ep_all"), ("case.unmatched", "ep_all"), ("case.unmatched", "ep_off")]
    notice = next(d for d in sent if d.recipient == "ep_off")
    payload = Webhook(offered_only.secret).verify(
        notice.body, headers(offered_only.secret, notice.delivery_id, int(time.time()), notice.body))
    assert payload["type"] == "case.unmatched" and payload["data"]["status"] == "UNMATCHED"
    assert payload["data"]["cause"] == "NOBODY_ELIGIBLE" and payload["data"]["case_id"] == "c1"
    assert "nobody" not in notice.body.decode()  # the reason's text stays out: codes only


async def test_a_case_waiting_for_a_free_slot_is_a_notice_with_when_it_stops_waiting():
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_wait", ["case.waiting"]), 10)
    await endpoints.add(_endpoint("ep_def", DEFAULT_ENDPOINT_TYPES, default=True), 10)
    waiting = lifecycle_event("case.waiting", reason="2 eligible specialists are at capacity", eligible_at_capacity=2)
    waiting.case_waiting.wait_until.FromDatetime(datetime(2026, 1, 2, tzinfo=timezone.utc))
    _, sent, _, _ = await _route([waiting], endpoints)
    [notice] = sent
    data = json.loads(notice.body)["data"]
    assert notice.recipient == "ep_wait" and notice.event_type == "case.waiting" and data["status"] == "MATCHING"
    assert (data["eligible_at_capacity"], data["wait_until"]) == (2, "2026-01-02T00:00:00+00:00")
    assert "specialists are" not in notice.body.decode()  # the reason's text stays out: codes only


async def test_an_event_nobody_hears_of_costs_no_store_request():
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_def", DEFAULT_ENDPOINT_TYPES, default=True), 10)
    events = [lifecycle_event(t) for t in ("case.submitted", "matching.started", "specialist.offered",
                                          "review.started", "documents.added")]
    outcome, sent, requests, _ = await _route(events, endpoints, channels=frozenset())  # webhooks only
    assert (outcome, sent, requests) == ([True] * 5, [], 0)


async def test_an_opinion_with_nobody_subscribed_waits_for_an_endpoint_but_a_status_does_not():
    outcome, sent, _, transact = await _route([lifecycle_event("opinion.submitted"),
                                               lifecycle_event("assignment.accepted")], InMemoryEndpoints(),
                                              channels=frozenset())
    assert outcome == [True, True]
    assert [(d.event_type, d.recipient) for d in sent] == [("case.opinion_ready", "t1")]


@pytest.mark.parametrize("reason, told", [(case_pb2.WITHDRAWAL_REASON_PATIENT_REQUEST, True),
                                          (case_pb2.WITHDRAWAL_REASON_TREATMENT_DECIDED, True),
                                          (case_pb2.WITHDRAWAL_REASON_DUPLICATE, False),
                                          (case_pb2.WITHDRAWAL_REASON_SUBMITTED_IN_ERROR, False)])
async def test_the_patient_hears_of_a_withdrawal_unless_the_case_was_a_duplicate_or_a_mistake(reason, told):
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_all"), 10)
    outcome, sent, _, _ = await _route([lifecycle_event("case.withdrawn", reason=reason)], endpoints)
    people = sorted((d.recipient, d.channel) for d in sent if d.channel != "webhook")
    assert people == ([("patient", "email"), ("patient", "sms")] if told else [])
    [hook] = [d for d in sent if d.channel == "webhook"]  # the tenant always
    assert json.loads(hook.body)["data"]["reason"] == case_pb2.WithdrawalReason.Name(reason).removeprefix(
        "WITHDRAWAL_REASON_")


async def test_a_withdrawal_cancels_the_opinions_notices_but_not_its_own_nor_the_statuses():
    transact = notify_transact()
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_all"), 10)
    queue = InMemoryDeliveryQueue(transact)
    clock = FakeClock()
    events = [lifecycle_event("assignment.accepted"), lifecycle_event("opinion.submitted"),
              lifecycle_event("case.withdrawn", reason=case_pb2.WITHDRAWAL_REASON_PATIENT_REQUEST),
              lifecycle_event("sla.changed", specialist_id="s1", change=events_pb2.SLA_CHANGE_REMINDER)]
    _, sent, _, _ = await _route(events, endpoints, transact=transact)
    for d in sent:  # every first attempt failed: all wait for their next
        await usecases.record_failed(transact, queue, clock, d, Attempt(1, clock.now(), "failed", 503, "HTTP 503"),
                                     max_attempts=5, disable_after_dead=0)
    gone = []
    assert await usecases.cancel_deliveries(queue, clock, lifecycle_event("assignments.withdrawn"), gone.append)
    by_kind = {}
    for d in transact.state.deliveries.values():
        by_kind.setdefault(d.kind, set()).add(d.status)
    # (the reviewer's reminder of a case no longer to be reviewed goes too)
    assert by_kind == {"assigned": {PENDING}, "opinion_ready": {CANCELLED}, "withdrawn": {PENDING},
                       "sla_reminder": {CANCELLED}}
    assert gone == ["c1"]


async def test_a_status_routed_once_is_not_routed_again_to_an_endpoint_added_since():
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_a", ["case.offered"]), 10)
    transact = notify_transact()
    offered = lifecycle_event("specialist.offered", assignment_id="a1")
    first, sent, _, _ = await _route([offered], endpoints, transact=transact)
    await endpoints.add(_endpoint("ep_b", ["case.offered"]), 10)
    again, resent, _, _ = await _route([offered], endpoints, transact=transact)
    assert (first, again) == ([True], [False])
    assert [d.recipient for d in sent] == ["ep_a", "reviewer", "reviewer"] and resent == []


async def test_an_opinion_notice_carries_the_forms_conclusions_and_the_first_models():
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_all"), 10)
    signed = lifecycle_event(
        "opinion.submitted", opinion_id="o1", version=1, diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_DIFFERENT,
        treatment=case_pb2.TREATMENT_CONCORDANCE_NOT_RECOMMENDED, diagnosis_concordance=case_pb2.CONCORDANCE_DIFFERENT,
        treatment_concordance=case_pb2.CONCORDANCE_DIFFERENT)
    _, sent, _, _ = await _route([signed], endpoints)
    data = json.loads(sent[0].body)["data"]
    # NOT_RECOMMENDED and ALTERNATIVE_RECOMMENDED were both DIFFERENT in the first model's words.
    assert (data["diagnosis"], data["treatment"], data["treatment_concordance"]) == (
        "DIFFERENT", "NOT_RECOMMENDED", "DIFFERENT")


async def test_an_amended_opinion_is_a_notice_of_its_own_with_its_version():
    endpoints = InMemoryEndpoints()
    await endpoints.add(_endpoint("ep_all"), 10)
    amended = lifecycle_event("opinion.amended", opinion=events_pb2.OpinionSubmitted(
        opinion_id="o1", version=2, diagnosis_concordance=case_pb2.CONCORDANCE_DIFFERENT))
    _, sent, _, transact = await _route([amended], endpoints)
    [hook] = sent
    data = json.loads(hook.body)["data"]
    assert (hook.event_type, data["opinion_version"], data["diagnosis_concordance"]) == (
        "case.opinion_amended", 2, "DIFFERENT")
    queue = InMemoryDeliveryQueue(transact)
    assert await usecases.record_delivered(transact, queue, FakeClock(), hook,
                                           Attempt(1, FakeClock().now(), "delivered", 204))
    assert transact.committed == []  # only the opinion's first notice is the case's DELIVERED stage
    assert transact.state.deliveries[hook.delivery_id].status == DELIVERED
    assert route_of(amended).kind == "opinion_amended"


def test_every_opinion_or_decision_notice_carries_its_version_to_be_ordered_by():
    from secondlook.events import new_event
    from services.notify.domain.routing import facts
    first = new_event(events_pb2.OpinionSubmitted(opinion_id="o1", version=1), case_id="c1", tenant_id="t1",
                      producer="review")
    assert facts(first)["opinion_version"] == 1
    decided = new_event(events_pb2.OpinionSubmitted(opinion_id="d1", version=1, prior_auth_decisions=[
        case_pb2.ItemDecision(item_key="1", action=case_pb2.ITEM_ACTION_APPROVE)]), case_id="c1", tenant_id="t1",
        producer="review")
    assert (facts(decided)["decision_id"], facts(decided)["decision_version"]) == ("d1", 1)


async def test_a_reviewer_hears_of_an_offer_and_a_reminder_with_the_times_and_no_case_content():
    respond_by = timestamp_pb2.Timestamp(seconds=1_800_000_000)
    offered = lifecycle_event("specialist.offered", assignment_id="a1", specialist_id="s-42", diagnosis_code="C50.911",
                              urgency=case_pb2.URGENCY_EXPEDITED, respond_by=respond_by)
    reminded = lifecycle_event("sla.changed", assignment_id="a1", specialist_id="s-42",
                               change=events_pb2.SLA_CHANGE_REMINDER, due_at=respond_by, seconds_left=3600)
    started = lifecycle_event("sla.changed", change=events_pb2.SLA_CHANGE_STARTED)
    outcome, sent, _, _ = await _route([offered, reminded, started], InMemoryEndpoints())
    assert outcome == [True, True, True]
    people = sorted((d.kind, d.recipient, d.channel, d.person_id, d.expedited) for d in sent)
    assert people == [("offered", "reviewer", "email", "s-42", True), ("offered", "reviewer", "sms", "s-42", True),
                      ("sla_reminder", "reviewer", "email", "s-42", False),
                      ("sla_reminder", "reviewer", "sms", "s-42", False)]
    facts = json.loads(next(d for d in sent if d.kind == "offered").body)
    assert facts == {"case_id": "c1", "tenant_id": "t1", "respond_by": "2027-01-15 08:00 UTC"}
    assert "C50" not in str(sent)  # the routing facts stay out of a message


async def test_operations_hear_of_escalations_only_where_an_address_is_set_up():
    unmatched = lifecycle_event("case.unmatched", cause=events_pb2.UNMATCHED_CAUSE_ATTEMPTS_EXHAUSTED, offers_made=3,
                                reason="3 offers declined or expired")
    breached = lifecycle_event("sla.changed", assignment_id="a1", specialist_id="s1",
                               change=events_pb2.SLA_CHANGE_BREACHED, seconds_left=-7260)
    _, quiet, _, _ = await _route([unmatched, breached], InMemoryEndpoints())
    assert quiet == []
    _, sent, _, _ = await _route([unmatched, breached], InMemoryEndpoints(), escalate=True)
    assert sorted((d.kind, d.recipient, d.channel) for d in sent) == [
        ("sla_breached", "operations", "email"), ("unmatched", "operations", "email")]
    facts = {d.kind: json.loads(d.body) for d in sent}
    assert facts["unmatched"]["cause"] == "ATTEMPTS_EXHAUSTED" and facts["unmatched"]["offers_made"] == "3"
    assert facts["sla_breached"]["overdue_minutes"] == "121" and facts["sla_breached"]["specialist_id"] == "s1"
    assert all(d.expedited for d in sent)  # an escalation never waits for quiet hours


async def test_a_dead_notice_is_escalated_to_operations_once_and_a_dead_escalation_is_not():
    transact = notify_transact()
    endpoints = InMemoryEndpoints()
    queue = InMemoryDeliveryQueue(transact)
    clock = FakeClock()
    _, sent, _, _ = await _route([lifecycle_event("opinion.submitted")], endpoints, channels=frozenset(),
                                 transact=transact)
    [hook] = sent
    failed = Attempt(1, clock.now(), "failed", 500, "receiver answered HTTP 500")
    assert await usecases.record_failed(transact, queue, clock, hook, failed, max_attempts=1, disable_after_dead=0,
                                        escalate=True) == "dead"
    [escalation] = [d for d in transact.state.deliveries.values() if d.recipient == "operations"]
    assert (escalation.kind, escalation.status, escalation.channel) == ("delivery_dead", PENDING, "email")
    assert json.loads(escalation.body)["last_error"] == "receiver answered HTTP 500"
    claimed = await usecases.claim_next(queue, clock, lease_seconds=LEASE)
    assert claimed.delivery_id == escalation.delivery_id
    assert await usecases.record_failed(transact, queue, clock, claimed, failed, max_attempts=1, disable_after_dead=0,
                                        escalate=True) == "dead"
    assert len([d for d in transact.state.deliveries.values() if d.recipient == "operations"]) == 1
    assert [e.type for e in transact.committed] == ["delivery.dead", "delivery.dead"]


async def test_a_tenant_does_not_see_the_reviewers_or_operations_notices_of_its_case_an_operator_does():
    transact = notify_transact()
    offered = lifecycle_event("specialist.offered", specialist_id="s1")
    unmatched = lifecycle_event("case.unmatched", cause=events_pb2.UNMATCHED_CAUSE_NOBODY_ELIGIBLE)
    _, sent, _, _ = await _route([offered, unmatched], InMemoryEndpoints(), transact=transact, escalate=True)
    queue = InMemoryDeliveryQueue(transact)
    with pytest.raises(usecases.UnknownDeliveries):
        await usecases.list_deliveries(queue, case_id="c1", tenants=frozenset({"t1"}))
    seen = await usecases.list_deliveries(queue, case_id="c1", tenants=frozenset({"t1"}), operator=True)
    assert sorted(d.recipient for d in seen) == ["operations", "reviewer", "reviewer"]
    with pytest.raises(usecases.UnknownDeliveries):
        await usecases.retry_delivery(queue, FakeClock(), delivery_id=sent[0].delivery_id,
                                      tenants=frozenset({"t1"}), max_attempts=3)


async def test_an_offer_declined_or_expired_cancels_its_notices_to_that_reviewer_only():
    transact = notify_transact()
    queue = InMemoryDeliveryQueue(transact)
    clock = FakeClock()
    first = lifecycle_event("specialist.offered", specialist_id="s1", assignment_id="a1")
    second = lifecycle_event("specialist.offered", specialist_id="s2", assignment_id="a2")
    _, sent, _, _ = await _route([first, second], InMemoryEndpoints(), transact=transact)
    for d in sent:  # say each waits for its reviewer's quiet hours
        await usecases.record_postponed(queue, d, Attempt(1, clock.now(), "postponed"), clock.now(), max_attempts=3)
    declined = lifecycle_event("assignment.declined", specialist_id="s1", assignment_id="a1")
    assert await usecases.cancel_offer_notices(queue, clock, declined)
    status = sorted((d.person_id, d.channel, d.status) for d in transact.state.deliveries.values())
    assert status == [("s1", "email", CANCELLED), ("s1", "sms", CANCELLED), ("s2", "email", PENDING),
                      ("s2", "sms", PENDING)]
    expired = lifecycle_event("assignment.expired", specialist_id="s2", assignment_id="a2")
    assert await usecases.cancel_offer_notices(queue, clock, expired)
    assert {d.status for d in transact.state.deliveries.values()} == {CANCELLED}

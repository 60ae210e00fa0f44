"""Acceptance: a tenant manages several webhook endpoints through NotifyService,
each notice reaches every endpoint that subscribes to its type, signed so that the
reference `standardwebhooks` library verifies it, through a secret rotation; the
API refuses the unauthenticated, the wrong role, bad fields (named, nothing
stored) and another tenant's endpoint."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from standardwebhooks.webhooks import Webhook

from devstack import clients
from devstack.receiver import WebhookReceiver
from devstack.simreviewer import SimulatedReviewer
from secondlook.auth import mint_token
from secondlook.v1 import case_pb2, intake_pb2, notify_pb2, notify_pb2_grpc
from tests.conftest import eventually
from tests.e2e.specialists import case_for, list_specialists

pytestmark = pytest.mark.e2e

PLACE = "US-DE"  # only this file's specialists are licensed here for its cases (no other test uses it)


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def _violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    return found


CALLS = {
    "CreateEndpoint": notify_pb2.CreateEndpointRequest(url="https://hooks.example.org/x"),
    "ListEndpoints": notify_pb2.ListEndpointsRequest(),
    "RotateSecret": notify_pb2.RotateSecretRequest(endpoint_id="ep_x"),
    "DisableEndpoint": notify_pb2.DisableEndpointRequest(endpoint_id="ep_x"),
    "EnableEndpoint": notify_pb2.EnableEndpointRequest(endpoint_id="ep_x"),
    "SendTestEvent": notify_pb2.SendTestEventRequest(endpoint_id="ep_x"),
}
# Who may read or retry deliveries is broader (tests below); a reviewer may not.
DELIVERY_CALLS = {
    "ListDeliveries": notify_pb2.ListDeliveriesRequest(case_id="c"),
    "RetryDelivery": notify_pb2.RetryDeliveryRequest(delivery_id="d"),
}


@pytest.mark.parametrize("method", [*CALLS, *DELIVERY_CALLS])
async def test_every_endpoint_method_needs_a_tenant_admin(stack, stack_settings, method):
    submitter = mint_token(stack_settings, subject="coord", tenant="tenant-ep",
                           roles=["reviewer"] if method in DELIVERY_CALLS else ["submitter"])
    request = {**CALLS, **DELIVERY_CALLS}[method]
    async with grpc.aio.insecure_channel(stack.target("notify")) as channel:
        call = getattr(notify_pb2_grpc.NotifyServiceStub(channel), method)
        error = await _refused(call(request))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        error = await _refused(call(request, metadata=(("authorization", f"Bearer {submitter}"),)))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_endpoints_are_validated_isolated_by_tenant_and_verify_through_a_rotation(stack, stack_settings):
    notify, authed = clients.tenant_admin(stack_settings, stack.target("notify"), "tenant-ep-a")
    other, other_authed = clients.tenant_admin(stack_settings, stack.target("notify"), "tenant-ep-b")
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        error = await _refused(notify.CreateEndpoint(notify_pb2.CreateEndpointRequest(
            url="ftp://hooks.example.org/x", event_types=["case.opinion_ready", "case.gossip"],
            description="x" * 201), metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in _violations(error)] == ["url", "event_types[1]", "description"]
        assert not (await notify.ListEndpoints(notify_pb2.ListEndpointsRequest(), metadata=authed.metadata)).endpoints

        created = await notify.CreateEndpoint(notify_pb2.CreateEndpointRequest(
            url=receiver.url, event_types=["case.opinion_ready"], description="Claims team"), metadata=authed.metadata)
        endpoint_id, first_secret = created.endpoint.endpoint_id, created.secret
        assert first_secret.startswith("whsec_") and not created.endpoint.disabled
        receiver.secret = first_secret

        # Another tenant neither sees nor touches it.
        assert not (await other.ListEndpoints(notify_pb2.ListEndpointsRequest(),
                                              metadata=other_authed.metadata)).endpoints
        for method, request in (
                ("RotateSecret", notify_pb2.RotateSecretRequest(endpoint_id=endpoint_id)),
                ("DisableEndpoint", notify_pb2.DisableEndpointRequest(endpoint_id=endpoint_id)),
                ("EnableEndpoint", notify_pb2.EnableEndpointRequest(endpoint_id=endpoint_id)),
                ("SendTestEvent", notify_pb2.SendTestEventRequest(endpoint_id=endpoint_id))):
            error = await _refused(getattr(other, method)(request, metadata=other_authed.metadata))
            assert error.code() == grpc.StatusCode.NOT_FOUND, method
        assert receiver.requests == []

        tested = await notify.SendTestEvent(notify_pb2.SendTestEventRequest(endpoint_id=endpoint_id),
                                            metadata=authed.metadata)
        assert (tested.delivered, tested.status_code, tested.error) == (True, 204, "")
        assert receiver.verified[-1]["type"] == "webhook.test"

        rotated = await notify.RotateSecret(notify_pb2.RotateSecretRequest(endpoint_id=endpoint_id,
                                                                           overlap_seconds=600),
                                            metadata=authed.metadata)
        assert rotated.secret != first_secret and rotated.endpoint.HasField("previous_secret_expires_at")
        tested = await notify.SendTestEvent(notify_pb2.SendTestEventRequest(endpoint_id=endpoint_id),
                                            metadata=authed.metadata)
        assert tested.delivered  # the receiver still holds the first secret
        last = receiver.requests[-1]
        assert Webhook(rotated.secret).verify(last["body"], last["headers"])  # and the new one verifies too

        error = await _refused(notify.RotateSecret(notify_pb2.RotateSecretRequest(
            endpoint_id=endpoint_id, overlap_seconds=30 * 86400), metadata=authed.metadata))
        assert [f for f, _ in _violations(error)] == ["overlap_seconds"]
        for method, request, field in (
                ("RotateSecret", notify_pb2.RotateSecretRequest(), "endpoint_id"),
                ("SendTestEvent", notify_pb2.SendTestEventRequest(endpoint_id="x" * 1001), "endpoint_id"),
                ("ListDeliveries", notify_pb2.ListDeliveriesRequest(), "case_id"),
                ("RetryDelivery", notify_pb2.RetryDeliveryRequest(), "delivery_id")):
            error = await _refused(getattr(notify, method)(request, metadata=authed.metadata))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and [f for f, _ in _violations(error)] == [field]

        disabled = await notify.DisableEndpoint(notify_pb2.DisableEndpointRequest(
            endpoint_id=endpoint_id, reason="receiver moving"), metadata=authed.metadata)
        assert disabled.disabled and disabled.disabled_reason == "by admin@tenant-ep-a: receiver moving"
        [listed] = (await notify.ListEndpoints(notify_pb2.ListEndpointsRequest(), metadata=authed.metadata)).endpoints
        assert listed.disabled and list(listed.event_types) == ["case.opinion_ready"]
        enabled = await notify.EnableEndpoint(notify_pb2.EnableEndpointRequest(endpoint_id=endpoint_id),
                                              metadata=authed.metadata)
        assert not enabled.disabled
        assert receiver.rejected == 0
    finally:
        await receiver.stop()
        await authed.close()
        await other_authed.close()


async def test_a_delivered_opinion_reaches_each_subscribed_endpoint_once(stack, stack_settings):
    tenant = "tenant-two-endpoints"
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    notify, authed = clients.tenant_admin(stack_settings, stack.target("notify"), tenant)
    intake, submitter = clients.submitter(stack_settings, stack.target("intake"), tenant)
    everything, opinions, other, broken = WebhookReceiver(), WebhookReceiver(), WebhookReceiver(), WebhookReceiver()
    for receiver in (everything, opinions, other, broken):
        await receiver.start()
    broken.refuse_with = 500  # down until told otherwise
    reviewer = None
    try:
        await list_specialists(directory, admin, PLACE, ("de-hooks", 1.0, ""))
        reviewer = SimulatedReviewer(stack_settings, stack.target("review"), ["de-hooks"]).start()
        ids = {}
        for receiver, types in ((everything, []), (opinions, ["case.opinion_ready"]), (other, ["case.needs_info"]),
                                (broken, ["case.opinion_ready"])):
            created = await notify.CreateEndpoint(notify_pb2.CreateEndpointRequest(url=receiver.url,
                                                                                   event_types=types),
                                                  metadata=authed.metadata)
            receiver.secret, ids[id(receiver)] = created.secret, created.endpoint.endpoint_id
        request = case_for("endpoints", PLACE, panel_requested=False, blind_review_requested=False)
        case_id = (await intake.SubmitCase(request, metadata=submitter.metadata, timeout=10)).case_id

        def opinion_ready(receiver):
            return [r for r in receiver.for_case(case_id) if r["payload"]["type"] == "case.opinion_ready"]

        async def delivered():
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
            return case.status == case_pb2.CASE_STATUS_DELIVERED and opinion_ready(everything) \
                and opinion_ready(opinions)

        await eventually(delivered, 90, "the case DELIVERED and both subscribed endpoints notified")
        await eventually(lambda: asyncio.sleep(0, result=len(opinions.verified) == 1), 10, "one opinion notice")
        assert opinions.verified[0]["type"] == "case.opinion_ready"
        assert opinion_ready(everything)[0]["headers"]["webhook-id"] != opinions.requests[0]["headers"]["webhook-id"]
        # The endpoint that takes every type heard each stage of the case once, each with its status
        # (sent as they come: the last stages may still be on their way).
        await eventually(lambda: asyncio.sleep(0, result=len(everything.verified) >= 6), 30, "six stages")
        life = sorted(everything.verified, key=lambda p: p["timestamp"])
        assert [p["type"] for p in life] == ["case.submitted", "case.matching", "case.offered", "case.assigned",
                                             "case.in_review", "case.opinion_ready"]
        assert [p["data"]["status"] for p in life] == ["SUBMITTED", "MATCHING", "OFFERED", "ASSIGNED", "IN_REVIEW",
                                                       "OPINION_READY"]
        assert len({r["headers"]["webhook-id"] for r in everything.requests}) == len(everything.requests)
        assert other.requests == []  # subscribed to case.needs_info only
        assert everything.rejected == opinions.rejected == 0

        # The delivery log: the broken endpoint's notice died after its attempts (2 here), each logged.
        async def log():
            reply = await notify.ListDeliveries(notify_pb2.ListDeliveriesRequest(case_id=case_id),
                                                metadata=authed.metadata)
            by_endpoint = {d.endpoint_id: d for d in reply.deliveries
                           if d.channel == "webhook" and d.notice_type == "case.opinion_ready"}
            dead = by_endpoint.get(ids[id(broken)])
            return by_endpoint if dead is not None and dead.status == notify_pb2.DELIVERY_STATUS_DEAD else None

        by_endpoint = await eventually(log, 30, "the broken endpoint's delivery to die")
        assert set(by_endpoint) == {ids[id(everything)], ids[id(opinions)], ids[id(broken)]}
        dead = by_endpoint[ids[id(broken)]]
        assert [(a.number, a.outcome, a.status_code) for a in dead.log] == [(1, "failed", 500), (2, "failed", 500)]
        assert dead.last_error == "receiver answered HTTP 500" and dead.notice_type == "case.opinion_ready"
        ok = by_endpoint[ids[id(everything)]]
        assert ok.status == notify_pb2.DELIVERY_STATUS_DELIVERED and ok.log[-1].status_code == 204
        assert ok.HasField("delivered_at")
        # Another tenant's case is not there for this caller; a delivered one is not retried.
        stranger, stranger_auth = clients.tenant_admin(stack_settings, stack.target("notify"), "tenant-stranger")
        try:
            error = await _refused(stranger.ListDeliveries(notify_pb2.ListDeliveriesRequest(case_id=case_id),
                                                           metadata=stranger_auth.metadata))
            assert error.code() == grpc.StatusCode.NOT_FOUND
            error = await _refused(stranger.RetryDelivery(notify_pb2.RetryDeliveryRequest(
                delivery_id=dead.delivery_id), metadata=stranger_auth.metadata))
            assert error.code() == grpc.StatusCode.NOT_FOUND
        finally:
            await stranger_auth.close()
        error = await _refused(notify.RetryDelivery(notify_pb2.RetryDeliveryRequest(delivery_id=ok.delivery_id),
                                                    metadata=authed.metadata))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION

        broken.refuse_with = None  # fixed: the tenant retries the dead delivery
        retried = await notify.RetryDelivery(notify_pb2.RetryDeliveryRequest(delivery_id=dead.delivery_id),
                                             metadata=authed.metadata)
        assert retried.status == notify_pb2.DELIVERY_STATUS_PENDING
        await eventually(lambda: asyncio.sleep(0, result=broken.for_case(case_id) and broken.verified), 30,
                         "the retried notice at the fixed receiver")
        assert {r["headers"]["webhook-id"] for r in broken.requests} == {dead.delivery_id}  # one id throughout
    finally:
        if reviewer is not None:
            await reviewer.stop()
        for receiver in (everything, opinions, other, broken):
            await receiver.stop()
        for a in (authed, submitter, admin):
            await a.close()

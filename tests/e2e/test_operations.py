"""What an operator relies on: health, reflection and metrics on every service."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from devstack import clients
from secondlook.v1 import intake_pb2
from tests.conftest import eventually

pytestmark = pytest.mark.e2e


def _metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


async def test_reflection_lists_each_services_api(stack):
    expected = {
        "intake": "secondlook.v1.IntakeService",
        "review": "secondlook.v1.ReviewService",
        "notify": "secondlook.v1.NotifyService",
        "matching": "grpc.health.v1.Health",
    }
    for name, service in expected.items():
        async with grpc.aio.insecure_channel(stack.target(name)) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
            async for reply in responses:
                names = {s.name for s in reply.list_services_response.service}
                assert service in names, f"{name} does not reflect {service}: {names}"
                break


async def test_metrics_count_calls_stages_and_outbox(stack, stack_settings):
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), "ops-tenant")
    try:
        await intake.SubmitCase(clients.sample_cases(prefix="ops-")[4], metadata=authed.metadata, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError):
            await intake.GetCase(intake_pb2.GetCaseRequest(case_id="no-such-case"), metadata=authed.metadata)
    finally:
        await authed.close()
    text = await asyncio.to_thread(_metrics, stack.metrics_ports["intake"])
    assert 'secondlook_grpc_requests_total{code="OK",method="SubmitCase",service="intake"}' in text
    assert 'secondlook_grpc_requests_total{code="NOT_FOUND",method="GetCase",service="intake"}' in text
    assert 'secondlook_stage_events_total{event_type="case.submitted",service="intake"}' in text
    assert "secondlook_outbox_backlog{" in text
    assert "no-such-case" not in text  # ids never become label values

    async def matching_counted():
        text = await asyncio.to_thread(_metrics, stack.metrics_ports["matching"])
        return 'secondlook_events_consumed_total{event_type="case.submitted",outcome="applied",service="matching"}' in text

    await eventually(matching_counted, 30, "matching to count the consumed event")
    # What the alerts watch: the store and the broker reachable, and the counters they
    # read declared at 0 from the start (an increase() needs a series before the first event).
    matching = await asyncio.to_thread(_metrics, stack.metrics_ports["matching"])
    assert 'secondlook_stage_events_total{event_type="case.waiting",service="matching"}' in matching
    for name in ("intake", "matching", "review", "notify"):
        text = await asyncio.to_thread(_metrics, stack.metrics_ports[name])
        assert f'secondlook_pipeline_connected{{service="{name}"}} 1.0' in text, name
        assert f'secondlook_store_reachable{{service="{name}"}} 1.0' in text, name
    notify = await asyncio.to_thread(_metrics, stack.metrics_ports["notify"])
    assert 'secondlook_delivery_attempts_total{channel="sms",outcome="retrying",service="notify"}' in notify
    intake_text = await asyncio.to_thread(_metrics, stack.metrics_ports["intake"])
    assert 'secondlook_redrive_requests_total{service="intake"}' in intake_text


def _store_requests(port: int) -> float:
    """A service's store requests so far (secondlook_mongo_commands_total, every command)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in _metrics(port).splitlines()
               if line.startswith("secondlook_mongo_commands_total{"))


async def test_idle_services_send_the_store_nothing(stack):
    """Nothing to do: no relay, consumer, dispatcher or inbox polls the store. (intake's
    sweeper is the one exception: it looks for stuck cases every interval.)"""
    quiet = ("matching", "review", "notify")

    async def a_quiet_window():
        before = {name: await asyncio.to_thread(_store_requests, stack.metrics_ports[name]) for name in quiet}
        await asyncio.sleep(2.0)  # an observation window, not a wait for something to happen
        after = {name: await asyncio.to_thread(_store_requests, stack.metrics_ports[name]) for name in quiet}
        return before == after or None

    # Earlier tests may leave work behind (a delivery retrying): wait for it to finish.
    await eventually(a_quiet_window, 90, "two seconds without a store request from matching, review and notify")

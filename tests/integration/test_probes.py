"""Readiness and liveness on real gRPC health checking, with a real consumer
loop: ready only once the loop holds its partitions; a loop that stops making
progress fails liveness while the server still answers."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from secondlook.bus import KafkaPublisher
from secondlook.consumer import IdempotentConsumer
from secondlook.consumerloop import ConsumerLoop
from secondlook.grpcserver import GrpcServer
from secondlook.probes import LIVENESS, PIPELINE, Probes
from secondlook.topics import ensure_topics
from tests.conftest import eventually

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_liveness_fails_when_the_consumer_loop_stops_while_grpc_still_answers(store, infra_settings):
    settings = infra_settings.model_copy(update={"grpc_port": 0, "grpc_host": "127.0.0.1"})
    topic = f"it.probes.{store.db.name}"
    await asyncio.to_thread(ensure_topics, settings, (topic,))
    publisher = KafkaPublisher(settings, "test-probes")
    loop = ConsumerLoop(settings, IdempotentConsumer(store, publisher, {}, group=topic), [topic], group=topic)
    server = GrpcServer(settings, "probe-test", lambda s: [])
    probes = Probes(server, stall_seconds=2.0, interval=0.1)
    probes.ready_checks["consumer"] = lambda: loop.in_group
    probes.heartbeats["consumer"] = lambda: loop.last_poll
    await server.start()
    consuming = asyncio.create_task(loop.run())
    probing = asyncio.create_task(probes.run())
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel)

    async def status(service: str) -> int:
        return (await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)).status

    try:
        assert await status("") == NOT_SERVING  # not ready before the consumer has joined
        await eventually(lambda: _is(status(""), SERVING), 30, "readiness once the consumer holds its partitions")
        assert loop._kafka._coordinator.coordinator_id is not None  # what in_group reads is where it looks
        assert await status(LIVENESS) == SERVING

        consuming.cancel()  # the consumer loop stops making progress
        await asyncio.gather(consuming, return_exceptions=True)
        await eventually(lambda: _is(status(LIVENESS), NOT_SERVING), 10, "liveness to fail")
        assert await status("") in (SERVING, NOT_SERVING)  # the server still answers
    finally:
        probing.cancel()
        consuming.cancel()
        await asyncio.gather(probing, consuming, return_exceptions=True)
        await channel.close()
        await server.stop(0)
        await publisher.close()


async def _is(call, expected) -> bool:
    return await call == expected


async def test_a_ready_service_stays_ready_when_the_broker_goes_but_pipeline_health_and_the_gauge_say_so(
        infra_settings):
    settings = infra_settings.model_copy(update={"grpc_port": 0, "grpc_host": "127.0.0.1"})
    server = GrpcServer(settings, "probe-broker-test", lambda s: [])
    probes = Probes(server, stall_seconds=60.0, interval=0.05)
    broker = {"up": False}
    probes.ready_checks["producer"] = lambda: broker["up"]
    await server.start()
    probing = asyncio.create_task(probes.run())
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel)

    async def status(service: str) -> int:
        return (await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)).status

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("secondlook_pipeline_connected", {"service": "probe-broker-test"})

    try:
        await eventually(lambda: _is(status(PIPELINE), NOT_SERVING), 10, "pipeline health before the broker")
        assert await status("") == NOT_SERVING and gauge() == 0  # not started: not ready
        broker["up"] = True
        await eventually(lambda: _is(status(""), SERVING), 10, "readiness once connected")
        assert await status(PIPELINE) == SERVING and gauge() == 1
        broker["up"] = False  # the broker goes away: the API still answers, every replica alike
        await eventually(lambda: _is(status(PIPELINE), NOT_SERVING), 10, "pipeline health to follow the broker")
        assert await status("") == SERVING and gauge() == 0
        broker["up"] = True
        await eventually(lambda: _is(status(PIPELINE), SERVING), 10, "pipeline health back")
        assert gauge() == 1
    finally:
        probing.cancel()
        await asyncio.gather(probing, return_exceptions=True)
        await channel.close()
        await server.stop(0)

"""What secondlook_grpc_requests_total says of a call its caller gave up on: a real
grpc.aio server with the one metrics interceptor, on a free port."""

from __future__ import annotations

import asyncio

import grpc
from prometheus_client import REGISTRY

from secondlook.grpcserver import MetricsInterceptor
from tests.conftest import eventually


def _count(method: str, code: str) -> float:
    return REGISTRY.get_sample_value("secondlook_grpc_requests_total",
                                     {"service": "metrics-test", "method": method, "code": code}) or 0.0


async def test_a_call_its_caller_abandoned_is_counted_as_such_not_as_a_server_failure():
    release, started = asyncio.Event(), []

    async def stuck(request, context):  # a store that stopped answering, say
        started.append(context)
        await release.wait()
        return b"late"

    async def broken(request, context):
        raise RuntimeError("a bug")

    handlers = grpc.method_handlers_generic_handler("test.Slow", {
        "Stuck": grpc.unary_unary_rpc_method_handler(stuck),
        "Broken": grpc.unary_unary_rpc_method_handler(broken),
    })
    server = grpc.aio.server(interceptors=[MetricsInterceptor("metrics-test")])
    server.add_generic_rpc_handlers((handlers,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/test.Slow/Stuck")
            try:
                await call(b"", timeout=0.3)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            pending = call(b"")
            await eventually(lambda: _true(len(started) == 2), 10, "the second call to reach the server")
            pending.cancel()
            try:
                await channel.unary_unary("/test.Slow/Broken")(b"", timeout=5)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNKNOWN

        async def counted():
            return (_count("Stuck", "DEADLINE_EXCEEDED") == 1 and _count("Stuck", "CANCELLED") == 1
                    and _count("Broken", "INTERNAL") == 1) or None

        await eventually(counted, 10, "the abandoned calls counted as DEADLINE_EXCEEDED and CANCELLED")
        assert _count("Stuck", "INTERNAL") == 0  # never a server failure
    finally:
        release.set()
        await server.stop(None)


async def _true(value: bool):
    return value or None

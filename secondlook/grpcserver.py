"""gRPC server scaffolding shared by every service: grpc.aio, health checking,
reflection, and the interceptors (metrics, store outages, auth, the request edge)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from pymongo.errors import ConnectionFailure

from secondlook import metrics
from secondlook.auth import AuthInterceptor, TokenVerifier
from secondlook.consumer import StoreUnavailable
from secondlook.edge import EdgeInterceptor
from secondlook.settings import Settings


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, service: str):
        self._service = service

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary
        service = self._service

        async def observed(request, context):
            started = time.perf_counter()
            code = "OK"
            try:
                return await inner(request, context)
            except BaseException:
                # context.code() holds the code an abort set; anything else is internal.
                code = getattr(context.code(), "name", None) or "INTERNAL"
                raise
            finally:
                metrics.GRPC_REQUESTS.labels(service, method, code).inc()
                metrics.GRPC_LATENCY_SECONDS.labels(service, method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


STORE_DOWN = "the store cannot be reached: try again shortly"


class OutageInterceptor(grpc.aio.ServerInterceptor):
    """A call that fails because the store cannot be reached answers UNAVAILABLE (the
    code a client retries), not UNKNOWN with nothing to go on."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        kwargs = dict(request_deserializer=handler.request_deserializer,
                      response_serializer=handler.response_serializer)
        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary(request, context):
                try:
                    return await inner(request, context)
                except (ConnectionFailure, StoreUnavailable):
                    await context.abort(grpc.StatusCode.UNAVAILABLE, STORE_DOWN)

            return grpc.unary_unary_rpc_method_handler(unary, **kwargs)
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            async def stream(request, context):
                try:
                    async for item in inner_stream(request, context):
                        yield item
                except (ConnectionFailure, StoreUnavailable):
                    await context.abort(grpc.StatusCode.UNAVAILABLE, STORE_DOWN)

            return grpc.unary_stream_rpc_method_handler(stream, **kwargs)
        return handler


class GrpcServer:
    """Builds and runs one service's server; `health` flips to SERVING when ready."""

    def __init__(
        self,
        settings: Settings,
        service: str,
        register: Callable[[grpc.aio.Server], Iterable[str]],
    ):
        self.settings = settings
        self.service = service
        self.server = grpc.aio.server(
            # Outermost first: count every call, authenticate, then decode and check the request.
            interceptors=[MetricsInterceptor(service), OutageInterceptor(), AuthInterceptor(TokenVerifier(settings)),
                          EdgeInterceptor()],
            options=[
                ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
                ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
            ],
        )
        names = list(register(self.server))
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._names = names
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        self.port = self.server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._names]:
            await self.health.set(name, status)

    async def set_live(self, live: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if live else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set("liveness", status)

    async def start(self) -> None:
        await self.set_serving(False)
        await self.set_live(True)
        await self.server.start()

    async def stop(self, grace: float = 3.0) -> None:
        await self.set_serving(False)
        await self.server.stop(grace)

"""gRPC server scaffolding shared by every service: grpc.aio, health checking,
reflection, and the interceptors (metrics, store outages, auth, the request edge)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from secondlook import failures, metrics
from secondlook.auth import AuthInterceptor, OpenStreams, TokenVerifier
from secondlook.edge import EdgeInterceptor
from secondlook.logging import get_logger
from secondlook.settings import Settings

log = get_logger(__name__)


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
            except asyncio.CancelledError:
                # The caller went away (cancelled, or its deadline passed): not our failure.
                remaining = context.time_remaining()
                code = "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
                log.info("grpc_call_abandoned", method=method, code=code,
                         seconds=round(time.perf_counter() - started, 3))
                raise
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


def _failure_code(exc: Exception, method: str) -> tuple[grpc.StatusCode, str]:
    """The status and message a call that raised `exc` answers with (secondlook.failures)."""
    if (told := failures.outage(exc)) is not None:
        return grpc.StatusCode.UNAVAILABLE, told
    reference = failures.new_reference()
    # A call to another service that failed: `at` names the call, its code why.
    downstream = {"downstream_code": exc.code().name} if isinstance(exc, grpc.aio.AioRpcError) else {}
    log.error("grpc_call_failed", method=method, error=type(exc).__name__, reference=reference,
              at=failures.where(exc), **downstream)
    return grpc.StatusCode.INTERNAL, failures.internal_error(reference)


class OutageInterceptor(grpc.aio.ServerInterceptor):
    """A call that fails for want of the store answers UNAVAILABLE (the code a client
    retries); one that fails on a bug answers INTERNAL with a reference to the log
    line, not grpc's UNKNOWN with the exception's text (which may quote the request)."""

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
                except grpc.aio.AbortError:  # an answer an inner layer chose
                    raise
                except Exception as exc:
                    await context.abort(*_failure_code(exc, handler_call_details.method))

            return grpc.unary_unary_rpc_method_handler(unary, **kwargs)
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            async def stream(request, context):
                try:
                    async for item in inner_stream(request, context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await context.abort(*_failure_code(exc, handler_call_details.method))

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
            interceptors=[MetricsInterceptor(service), OutageInterceptor(),
                          AuthInterceptor(TokenVerifier(settings), OpenStreams(settings.grpc_max_streams_per_caller)),
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
        await self.set_health("liveness", live)

    async def set_health(self, name: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set(name, status)

    async def start(self) -> None:
        await self.set_serving(False)
        await self.set_live(True)
        await self.server.start()

    async def stop(self, grace: float = 3.0) -> None:
        await self.set_serving(False)
        await self.server.stop(grace)

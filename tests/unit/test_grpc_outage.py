"""A call that fails because the store cannot be reached answers UNAVAILABLE, unary or streaming."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from secondlook.consumer import StoreUnavailable
from secondlook.grpcserver import STORE_DOWN, OutageInterceptor


class Aborted(Exception):
    pass


class Context:
    def __init__(self):
        self.aborted = None

    async def abort(self, code, details):
        self.aborted = (code, details)
        raise Aborted()


async def _intercepted(handler) -> grpc.RpcMethodHandler:
    async def continuation(_details):
        return handler
    return await OutageInterceptor().intercept_service(continuation, SimpleNamespace(method="/s/M"))


@pytest.mark.parametrize("error", [ServerSelectionTimeoutError("no servers"), StoreUnavailable("down")])
async def test_a_unary_call_that_cannot_reach_the_store_answers_unavailable(error):
    async def failing(request, context):
        raise error

    handler = await _intercepted(grpc.unary_unary_rpc_method_handler(failing))
    context = Context()
    with pytest.raises(Aborted):
        await handler.unary_unary(b"", context)
    assert context.aborted == (grpc.StatusCode.UNAVAILABLE, STORE_DOWN)


async def test_a_stream_that_loses_the_store_ends_unavailable_and_other_errors_pass_through():
    async def streaming(request, context):
        yield 1
        raise ServerSelectionTimeoutError("gone")

    handler = await _intercepted(grpc.unary_stream_rpc_method_handler(streaming))
    context, received = Context(), []
    with pytest.raises(Aborted):
        async for item in handler.unary_stream(b"", context):
            received.append(item)
    assert received == [1] and context.aborted[0] == grpc.StatusCode.UNAVAILABLE

    async def buggy(request, context):
        raise KeyError("a bug is not an outage")

    handler = await _intercepted(grpc.unary_unary_rpc_method_handler(buggy))
    with pytest.raises(KeyError):
        await handler.unary_unary(b"", Context())

"""A call that fails because the store cannot be reached answers UNAVAILABLE, unary or streaming;
one that fails on a bug answers INTERNAL with a reference, never the exception's own text."""

from __future__ import annotations

import json
from types import SimpleNamespace

import grpc
import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure, ServerSelectionTimeoutError
from structlog.testing import capture_logs

from secondlook.consumer import StoreUnavailable
from secondlook.failures import STORE_BUSY, STORE_DOWN
from secondlook.grpcserver import OutageInterceptor


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


async def test_a_stream_that_loses_the_store_ends_unavailable():
    async def streaming(request, context):
        yield 1
        raise ServerSelectionTimeoutError("gone")

    handler = await _intercepted(grpc.unary_stream_rpc_method_handler(streaming))
    context, received = Context(), []
    with pytest.raises(Aborted):
        async for item in handler.unary_stream(b"", context):
            received.append(item)
    assert received == [1] and context.aborted[0] == grpc.StatusCode.UNAVAILABLE


async def test_a_store_error_the_driver_calls_transient_answers_unavailable():
    async def conflicted(request, context):
        raise OperationFailure("WriteConflict", code=112, details={"errorLabels": ["TransientTransactionError"]})

    handler = await _intercepted(grpc.unary_unary_rpc_method_handler(conflicted))
    context = Context()
    with pytest.raises(Aborted):
        await handler.unary_unary(b"", context)
    assert context.aborted == (grpc.StatusCode.UNAVAILABLE, STORE_BUSY)


@pytest.mark.parametrize("error", [
    KeyError("Jane Canary-Doe"),  # a bug
    DuplicateKeyError("E11000 dup key: { mrn: \"Jane Canary-Doe\" }", code=11000),
    OperationFailure("internal server error Jane Canary-Doe", code=1),  # the store failing on its own
])
async def test_a_failure_that_is_no_outage_answers_internal_with_a_reference_and_not_its_text(error, capsys):
    async def buggy(request, context):
        raise error

    for kind in ("unary", "stream"):
        if kind == "unary":
            handler = await _intercepted(grpc.unary_unary_rpc_method_handler(buggy))
            call = handler.unary_unary(b"", context := Context())
        else:
            async def streaming(request, context):
                yield 1
                raise error
            handler = await _intercepted(grpc.unary_stream_rpc_method_handler(streaming))
            call = _drain(handler.unary_stream(b"", context := Context()))
        with pytest.raises(Aborted):
            await call
        code, details = context.aborted
        assert code == grpc.StatusCode.INTERNAL
        assert details.startswith("internal error, reference ") and "Canary" not in details
        reference = details.split("reference ", 1)[1].split(":", 1)[0]
        logged = capsys.readouterr().out
        assert reference in logged and type(error).__name__ in logged and "Canary" not in logged
        assert "method=/s/M" in logged and "at=unit/test_grpc_outage.py:" in logged


async def test_a_failed_call_to_another_service_is_logged_with_its_code_and_where_it_was_made():
    downstream = grpc.aio.AioRpcError(grpc.StatusCode.ABORTED, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                      details="Jane Canary-Doe's case is busy")

    async def calling(request, context):
        raise downstream

    handler = await _intercepted(grpc.unary_unary_rpc_method_handler(calling))
    with capture_logs() as logs, pytest.raises(Aborted):
        await handler.unary_unary(b"", context := Context())
    assert context.aborted[0] == grpc.StatusCode.INTERNAL
    [line] = [e for e in logs if e["event"] == "grpc_call_failed"]
    assert (line["downstream_code"], line["method"]) == ("ABORTED", "/s/M") and "Canary" not in str(line)
    assert line["at"].startswith("unit/test_grpc_outage.py:")


async def test_an_answer_an_inner_layer_chose_passes_through_untouched():
    async def refusing(request, context):
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")

    class AbortingContext(Context):
        async def abort(self, code, details):
            self.aborted = (code, details)
            raise grpc.aio.AbortError()

    handler = await _intercepted(grpc.unary_unary_rpc_method_handler(refusing))
    context = AbortingContext()
    with pytest.raises(grpc.aio.AbortError):
        await handler.unary_unary(b"", context)
    assert context.aborted == (grpc.StatusCode.PERMISSION_DENIED, "no")


async def _drain(stream) -> None:
    async for _ in stream:
        pass


async def test_a_failure_inside_a_library_is_placed_at_the_projects_own_line_that_called_it():
    async def parsing(request, context):
        return json.loads("{not json")  # the innermost frames are json's own

    handler = await _intercepted(grpc.unary_unary_rpc_method_handler(parsing))
    with capture_logs() as logs, pytest.raises(Aborted):
        await handler.unary_unary(b"", Context())
    [line] = [e for e in logs if e["event"] == "grpc_call_failed"]
    assert line["at"].startswith("unit/test_grpc_outage.py:"), line["at"]

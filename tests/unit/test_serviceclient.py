"""A call to another service: a moment's outage tried again, and said in the log with
what was called and the status it answered, never an error's text."""

from __future__ import annotations

import grpc
import pytest
from structlog.testing import capture_logs

from secondlook import serviceclient
from secondlook.serviceclient import ServiceIdentity, ServiceUnavailable
from secondlook.settings import Settings
from secondlook.v1 import intake_pb2

IDENTITY = ServiceIdentity(Settings(jwt_secret="a-test-key-0123456789abcdef0123456789"), "review", ["case-reader"])


async def test_a_retried_call_names_the_request_and_the_status_in_its_log_lines():
    answers = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, None]

    async def rpc(request, metadata, timeout):
        code = answers.pop(0)
        if code is not None:
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="Ada Lovelace's case")
        return "answered"

    with capture_logs() as logs:
        assert await serviceclient.call(rpc, intake_pb2.GetCaseForReviewRequest(case_id="c1"), IDENTITY) == "answered"
    retries = [e for e in logs if e["event"] == "retrying"]
    assert [(e["operation"], e["code"], e["error"]) for e in retries] == [
        ("call GetCaseForReview", "UNAVAILABLE", "AioRpcError"), ("call GetCaseForReview", "DEADLINE_EXCEEDED", "AioRpcError")]
    assert "Lovelace" not in repr(logs)


async def test_a_call_that_stays_unavailable_is_service_unavailable_and_another_refusal_is_raised_as_it_came():
    async def down(request, metadata, timeout):
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata())

    async def refused(request, metadata, timeout):
        raise grpc.aio.AioRpcError(grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(), grpc.aio.Metadata())

    with pytest.raises(ServiceUnavailable):
        await serviceclient.call(down, intake_pb2.GetCaseForReviewRequest(case_id="c1"), IDENTITY)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await serviceclient.call(refused, intake_pb2.GetCaseForReviewRequest(case_id="c1"), IDENTITY)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

"""review's adapter to intake: what intake answers to a decision, as the reviewer's API reads it."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest

from secondlook.serviceclient import ServiceIdentity
from secondlook.settings import Settings
from services.review.cases import DecisionContended, DecisionRefused, IntakeCases
from services.review.domain.priorauth import APPROVE, ItemDecision


def _intake_answering(code: grpc.StatusCode | None, details: str = "") -> IntakeCases:
    cases = IntakeCases.__new__(IntakeCases)

    async def record(request, metadata, timeout):
        if code is not None:
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)

    cases._stub = SimpleNamespace(RecordPriorAuthDecision=record)
    cases._identity = ServiceIdentity(Settings(jwt_secret="a-test-key-0123456789abcdef0123456789"), "review",
                                      ["case-reader"])
    return cases


async def _decide(cases: IntakeCases):
    return await cases.record_prior_auth_decision("c1", "d1", "spec-1", [ItemDecision("1", APPROVE)])


async def test_intake_keeping_another_decision_at_that_moment_is_a_contention_to_retry_not_an_internal_error():
    assert await _decide(_intake_answering(None)) is True
    assert await _decide(_intake_answering(grpc.StatusCode.NOT_FOUND)) is False
    with pytest.raises(DecisionContended):
        await _decide(_intake_answering(grpc.StatusCode.ABORTED, "contended"))
    with pytest.raises(DecisionRefused, match="too many"):
        await _decide(_intake_answering(grpc.StatusCode.FAILED_PRECONDITION, "too many decisions"))
    with pytest.raises(grpc.aio.AioRpcError):  # a misconfiguration stays an error
        await _decide(_intake_answering(grpc.StatusCode.PERMISSION_DENIED))

"""review's adapter to intake: a case as its reviewer needs it, read over intake's
gRPC API with review's service identity (intake records each read in the case's
access audit, naming the reviewer)."""

from __future__ import annotations

import grpc

from secondlook import serviceclient
from secondlook.serviceclient import ServiceIdentity
from secondlook.v1 import case_pb2, intake_pb2, intake_pb2_grpc

from .domain.priorauth import NUMBER_OF, ItemDecision


class CaseUnavailable(Exception):
    """intake could not be asked (down, or too slow): the caller may try again."""


class DecisionRefused(Exception):
    """intake will not keep the decision now (the case closed to it, or too many sent)."""


class DecisionContended(Exception):
    """intake was keeping another decision for the same case at that moment: try again."""


class IntakeCases:
    def __init__(self, channel: grpc.aio.Channel, identity: ServiceIdentity):
        self._stub = intake_pb2_grpc.IntakeServiceStub(channel)
        self._identity = identity

    async def _call(self, rpc, request):
        """One call to intake with review's identity, a moment's outage tried again;
        CaseUnavailable once it stays away. NOT_FOUND and FAILED_PRECONDITION (no
        such open case) are the caller's to read; any other refusal is a
        misconfiguration (the key, the target), not a moment's outage."""
        try:
            return await serviceclient.call(rpc, request, self._identity)
        except serviceclient.ServiceUnavailable as exc:
            raise CaseUnavailable(str(exc)) from None

    async def case_for_review(self, case_id: str, specialist_id: str) -> intake_pb2.CaseForReview | None:
        """The case, or None when intake has none of that id or it is withdrawn or closed."""
        request = intake_pb2.GetCaseForReviewRequest(case_id=case_id, specialist_id=specialist_id)
        try:
            return await self._call(self._stub.GetCaseForReview, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    async def record_info_request(self, case_id: str, request_id: str, specialist_id: str,
                                  questions: list[str]) -> bool:
        """Keeps the reviewer's questions with the case; False when intake has no open
        case of that id (withdrawn or closed since). The same request_id again is a
        no-op there, so a call retried after a lost reply records it once."""
        request = intake_pb2.RecordInfoRequestRequest(case_id=case_id, request_id=request_id,
                                                      specialist_id=specialist_id, questions=questions)
        try:
            await self._call(self._stub.RecordInfoRequest, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                return False
            raise
        return True

    async def record_prior_auth_decision(self, case_id: str, decision_id: str, specialist_id: str,
                                         decisions: list[ItemDecision], amendment_reason: str = "") -> bool:
        """Keeps the reviewer's decision (its texts too) with the case; False when intake
        has no open case of that id. The same decision_id again keeps nothing more."""
        request = intake_pb2.RecordPriorAuthDecisionRequest(
            case_id=case_id, decision_id=decision_id, specialist_id=specialist_id, decisions=[
                case_pb2.ItemDecision(item_key=d.key, action=NUMBER_OF[d.action], reason_code=d.reason_code,
                                      provider_text=d.provider_text, patient_text=d.patient_text,
                                      approved_quantity=d.approved_quantity, approved_code=d.approved_code)
                for d in decisions], amendment_reason=amendment_reason)
        try:
            await self._call(self._stub.RecordPriorAuthDecision, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:  # not decidable now: intake says why
                raise DecisionRefused(exc.details() or "intake refused the decision") from None
            if exc.code() == grpc.StatusCode.ABORTED:  # another decision kept at the same moment
                raise DecisionContended(case_id) from None
            raise
        return True

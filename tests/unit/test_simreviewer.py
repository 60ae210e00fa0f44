"""The demo's simulated reviewer keeps at an assignment while review or intake is
away, however long: an operator restarts a service minutes later."""

from __future__ import annotations

import grpc

from devstack import simreviewer
from devstack.simreviewer import SimulatedReviewer
from secondlook.v1 import review_pb2


class Unavailable(grpc.aio.AioRpcError):
    def __init__(self):
        super().__init__(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details="away")


class ReviewAwayFor:
    """A review service whose every call fails UNAVAILABLE the first `failures` times."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls: list[str] = []

    def __getattr__(self, method: str):
        async def call(request, metadata=None, timeout=None):
            self.calls.append(method)
            if self.failures > 0:
                self.failures -= 1
                raise Unavailable()
            return review_pb2.AssignmentDetail() if method == "GetAssignment" else review_pb2.Assignment()
        return call


async def test_an_assignment_is_worked_to_its_opinion_after_a_long_outage(monkeypatch, settings):
    monkeypatch.setattr(simreviewer, "RETRY_MAX_SECONDS", 0.001)
    reviewer = SimulatedReviewer(settings, "unused:1", [])
    review = ReviewAwayFor(60)  # three times the 20 attempts it once gave up after
    offer = review_pb2.Assignment(assignment_id="a1", case_id="c1", state=review_pb2.ASSIGNMENT_STATE_OFFERED,
                                  diagnosis_code="C50.911")
    await reviewer._work(review, (), offer)
    assert reviewer.answered == 1 and review.calls[-1] == "SubmitOpinion" and review.failures == 0

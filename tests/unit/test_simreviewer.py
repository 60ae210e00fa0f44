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


class OfferPastItsDeadline(ReviewAwayFor):
    """Accept is refused (the deadline passed) while the inbox still shows it OFFERED."""

    def __getattr__(self, method: str):
        async def call(request, metadata=None, timeout=None):
            self.calls.append(method)
            if method == "ListAssignments":
                return review_pb2.ListAssignmentsResponse(assignments=[review_pb2.Assignment(
                    assignment_id="a1", state=review_pb2.ASSIGNMENT_STATE_OFFERED)])
            raise grpc.aio.AioRpcError(grpc.StatusCode.FAILED_PRECONDITION, grpc.aio.Metadata(),
                                       grpc.aio.Metadata(), details="the offer's deadline passed")
        return call


async def test_a_call_refused_while_the_assignment_looks_open_is_left_after_a_few_tries(monkeypatch, settings):
    monkeypatch.setattr(simreviewer, "RETRY_MAX_SECONDS", 0.001)
    reviewer = SimulatedReviewer(settings, "unused:1", [])
    review = OfferPastItsDeadline(0)
    reviewer._working.add("a1")
    offer = review_pb2.Assignment(assignment_id="a1", state=review_pb2.ASSIGNMENT_STATE_OFFERED)
    await reviewer._work(review, (), offer)
    assert review.calls.count("AcceptAssignment") == simreviewer.MAX_REFUSALS + 1 and reviewer.answered == 0
    assert "a1" not in reviewer._working  # a later push of it may take it up again

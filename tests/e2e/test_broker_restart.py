"""Acceptance: the broker dies and comes back empty while 20 cases are in flight;
every case still reaches DELIVERED with exactly one delivery each."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from devstack.receiver import registered_receiver
from devstack.simreviewer import SimulatedReviewer
from secondlook.settings import Settings
from secondlook.v1 import case_pb2, intake_pb2
from tests.conftest import Pending, eventually
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e

CASES = 20
TENANT = "fault-tenant"


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("fault"))
    yield stack
    stack.stop()


async def test_every_case_is_delivered_once_after_the_broker_restarts_empty(fault_stack):
    stack = fault_stack
    settings = Settings(jwt_secret=stack.jwt_secret)
    receiver = await registered_receiver(settings, stack.target("notify"), TENANT)
    intake, authed = clients.submitter(settings, stack.target("intake"), TENANT)
    reviewer = SimulatedReviewer(settings, stack.target("review"), clients.specialist_ids()).start()
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        requests = clients.numbered_cases("fault", CASES)
        replies = await asyncio.gather(
            *(intake.SubmitCase(r, metadata=authed.metadata, timeout=15) for r in requests)
        )
        case_ids = [r.case_id for r in replies]

        async def statuses() -> dict[str, int]:
            cases = await asyncio.gather(*(
                intake.GetCase(intake_pb2.GetCaseRequest(case_id=c), metadata=authed.metadata, timeout=10)
                for c in case_ids))
            return {c.case_id: c.status for c in cases}

        # Kill the broker while cases are spread over the stages, not before or after.
        async def in_flight():
            s = await statuses()
            moving = [v for v in s.values() if case_pb2.CASE_STATUS_SUBMITTED < v < case_pb2.CASE_STATUS_DELIVERED]
            return len(moving) >= 3 or None

        await eventually(in_flight, 60, "cases in flight before the fault", interval=0.05)
        before = await statuses()
        stack.kill_broker()
        stack.start_broker()  # same port, empty: no topics, no offsets, no groups

        async def all_delivered():
            s = await statuses()
            stuck = {c: case_pb2.CaseStatus.Name(v) for c, v in s.items() if v != case_pb2.CASE_STATUS_DELIVERED}
            return not stuck or Pending(stuck)

        await eventually(all_delivered, 240, "all 20 cases DELIVERED after the broker restart", interval=0.5)

        assert any(v < case_pb2.CASE_STATUS_DELIVERED for v in before.values()), "fault hit no case in flight"
        counts = receiver.per_case()
        assert sorted(counts) == sorted(case_ids)
        assert set(counts.values()) == {1}, f"duplicate webhooks: { {k: v for k, v in counts.items() if v > 1} }"
        assert all(r["valid"] for r in receiver.requests)
        for name, port in stack.metrics_ports.items():  # recovered by re-driving, not by dead-lettering
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            dead = [line for line in text.splitlines() if line.startswith("secondlook_dead_letters_total{")]
            assert dead and all(line.endswith(" 0.0") for line in dead), f"{name} dead-lettered events: {dead}"
        deliveries = mongo["secondlook_notify"]["deliveries"]
        webhooks = {"tenant_id": TENANT, "channel": "webhook"}  # (the patients' texts are deliveries too)
        assert await deliveries.count_documents(webhooks) == CASES
        assert await deliveries.count_documents({**webhooks, "status": "delivered"}) == CASES
    finally:
        await reviewer.stop()
        await authed.close()
        await receiver.stop()
        await mongo.close()

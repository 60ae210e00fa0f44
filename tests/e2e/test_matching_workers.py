"""Acceptance (issue 9): two matching worker processes race for one specialist of
capacity 1 over 50 cases: the slot is never held twice, and every other case
waits for it (MATCHING, case.waiting), none of them offered."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request

import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from secondlook.settings import Settings
from secondlook.v1 import case_pb2, intake_pb2
from tests.conftest import Pending, eventually
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e

CASES = 50
ONLY = {
    "specialist_id": "the-only-one", "npi": "1234567893", "display_name": "Dr. Solo Synth (synthetic)",
    "specialties": ["207RX0202X"], "licences": [{"jurisdiction": "US-CA", "expires": "2099-12-31"}],
    "certifications": [{"board": "ABIM", "specialty": "207RX0202X", "expires": "2099-12-31"}],
    "languages": ["en", "es"], "capacity": 1, "accepting": True, "turnaround_days": 3.0,
}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    home = tmp_path_factory.mktemp("two-workers")
    seed = home / "directory.json"
    seed.write_text(json.dumps([ONLY]))
    stack = start_stack(home, overrides={"SECONDLOOK_MATCHING_DIRECTORY_SEED": str(seed)})
    try:
        stack.start_service("matching", replica=1)
        stack.wait_serving("matching-1")
        yield stack
    finally:
        stack.stop()


def _decided_by(port: int) -> int:
    """Cases this matching process offered, put to wait or declared unmatched (its own metrics)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(int(float(v)) for v in re.findall(
        r'^secondlook_stage_events_total\{[^}]*event_type="(?:specialist\.offered|case\.unmatched|case\.waiting)"'
        r'[^}]*\} (\S+)$', text, re.M))


async def test_two_workers_never_overbook_one_slot(two_workers):
    stack = two_workers
    settings = Settings(jwt_secret=stack.jwt_secret)
    intake, authed = clients.submitter(settings, stack.target("intake"), "race-tenant")
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        requests = clients.numbered_cases("race", CASES)
        for r in requests:  # every one a case only the one specialist can take
            r.diagnosis_code, r.jurisdiction, r.language = "C50.911", "US-CA", "en"
        replies = await asyncio.gather(*(intake.SubmitCase(r, metadata=authed.metadata, timeout=15)
                                         for r in requests))
        ids = [r.case_id for r in replies]

        async def all_decided():
            per_worker = [_decided_by(stack.metrics_ports[p]) for p in ("matching", "matching-1")]
            return per_worker if sum(per_worker) >= CASES else Pending(f"{sum(per_worker)} of {CASES} decided")

        per_worker = await eventually(all_decided, 120, "every case offered or waiting for the slot")
        assert sum(per_worker) == CASES and all(per_worker), per_worker  # both workers took part: the race was real

        async def projected():  # intake records what matching decided
            page = await intake.ListCases(intake_pb2.ListCasesRequest(page_size=200), metadata=authed.metadata,
                                          timeout=10)
            status = [c.status for c in page.cases if c.case_id in ids]
            return status if case_pb2.CASE_STATUS_SUBMITTED not in status else Pending(status)

        status = await eventually(projected, 60, "intake's statuses")
        assert status.count(case_pb2.CASE_STATUS_OFFERED) == 1
        assert status.count(case_pb2.CASE_STATUS_MATCHING) == CASES - 1  # waiting for the one slot, not unmatched
        db = mongo["secondlook_matching"]
        only = await db["specialists"].find_one({"_id": "the-only-one"})
        assert only["free_slots"] == 0 and len(only["holding"]) == 1
        assert await db["assignments"].count_documents({"specialist_id": "the-only-one"}) == 1
        assert await db["waiting_cases"].count_documents({}) == CASES - 1
    finally:
        await authed.close()
        await mongo.close()

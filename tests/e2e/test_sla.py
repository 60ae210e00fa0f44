"""Acceptance (issue 10, SLA clocks): with a short configured clock, the reviewer is
reminded, then the clock is breached and operations are told (sla.changed
BREACHED), each once, with a kill -9 of review in between: the restarted service
re-arms the clock from the store, so it is neither lost nor fired twice."""

from __future__ import annotations

import asyncio

import pytest

from devstack import clients
from secondlook.events import decode
from secondlook.v1 import case_pb2, events_pb2, intake_pb2, review_pb2
from services.topology import PRODUCES
from tests.conftest import Pending, eventually
from tests.e2e.conftest import start_stack
from tests.e2e.specialists import case_for, list_specialists, offer_of
from tests.integration.kafka_reader import read_topic

pytestmark = pytest.mark.e2e

BUDGET = 20  # seconds: a reminder at half of it, the breach at the whole
SHORT_CLOCK = {"SECONDLOOK_REVIEW_SLA_STANDARD_SECONDS": str(BUDGET), "SECONDLOOK_REVIEW_SLA_REMINDER_FRACTIONS": "[0.5]"}
PLACE, SID, PHONE = "US-RI", "ri-sla", "+14155550142"


@pytest.fixture(scope="module")
def sla_stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("sla"), overrides=SHORT_CLOCK)
    yield stack
    stack.stop()


async def test_a_short_clock_reminds_then_breaches_once_across_a_kill_of_review(sla_stack):
    stack = sla_stack
    settings = stack.settings()
    directory, admin = clients.directory_admin(settings, stack.target("matching"))
    intake, submitter = clients.submitter(settings, stack.target("intake"), "sla-tenant")
    reviewer, authed = clients.reviewer(settings, stack.target("review"), SID)
    try:
        await list_specialists(directory, admin, PLACE, (SID, 0.9, ""), phone=PHONE)
        request = case_for("sla", PLACE)
        assert request.attachments  # a case with its records: the clock starts with the acceptance
        case_id = (await intake.SubmitCase(request, metadata=submitter.metadata, timeout=10)).case_id
        offer = await offer_of(reviewer, authed, case_id)
        assert not offer.HasField("sla")  # an offer has no clock yet
        req = review_pb2.AssignmentRequest(assignment_id=offer.assignment_id)
        accepted = await reviewer.AcceptAssignment(req, metadata=authed.metadata)
        assert accepted.sla.state == review_pb2.SLA_STATE_RUNNING and accepted.sla.budget_seconds == BUDGET
        assert 0 < accepted.sla.seconds_left <= BUDGET
        await reviewer.StartReview(req, metadata=authed.metadata)
        await authed.close()

        # kill -9 with the clock running and nothing fired yet: the restarted review
        # finds it in the store and fires the reminder, then the breach.
        stack.services["review"].kill()
        stack.start_service("review")
        await asyncio.to_thread(stack.wait_serving, "review")
        reviewer, authed = clients.reviewer(settings, stack.target("review"), SID)

        async def timeline_has(change):
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
            found = [e for e in case.timeline if e.event_type == "sla.changed" and e.detail.startswith(change)]
            return found or Pending([e.event_type for e in case.timeline])

        [reminder] = await eventually(lambda: timeline_has("SLA reminder 1"), 60, "the reminder on the timeline")
        assert reminder.status == case_pb2.CASE_STATUS_IN_REVIEW  # recorded at the case's status
        [breach] = await eventually(lambda: timeline_has("SLA breached"), 60, "the breach on the timeline")
        assert "escalated to operations" in breach.detail

        shown = (await reviewer.GetAssignment(req, metadata=authed.metadata)).assignment.sla
        assert shown.breached and shown.seconds_left <= 0 and shown.reminders_sent == 1
        records = [decode(r.value) for r in await read_topic(stack.kafka_bootstrap, PRODUCES["review"])
                   if r.key == case_id.encode()]
        changes = [e.sla_changed.change for e in records if e.type == "sla.changed"]
        assert changes == [events_pb2.SLA_CHANGE_REMINDER, events_pb2.SLA_CHANGE_BREACHED]  # each once
        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
        assert sum(e.event_type == "sla.changed" for e in case.timeline) == 2
        log = (stack.home / "logs" / "review.log").read_text()
        assert log.count('"sla_breached"') == 1
        # The reviewer was texted the offer and the one reminder (notify's file provider here).
        texts = await eventually(lambda: asyncio.sleep(0, result=(found := [
            t for t in stack.texts() if t["to"] == PHONE]) and len(found) >= 2 and found), 30, "the reviewer's texts")
        assert sorted("reminder" in t["body"] for t in texts) == [False, True]
        assert any("offered to you" in t["body"] for t in texts)
    finally:
        await authed.close()
        await admin.close()
        await submitter.close()

"""Acceptance: replicas keep each case's events in order and publish each once;
a kill -9 of any one service with 20 cases in flight is recovered from by the
restart alone (the sweeper is set to wait 10 minutes, so it cannot help).

Stacks of their own, with their own clocks: no sweeper help, webhooks
retried promptly."""

from __future__ import annotations

import asyncio
import collections
import json
import time

import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from devstack.receiver import registered_receiver
from devstack.simreviewer import SimulatedReviewer
from devstack.smtpsink import SmtpSink
from secondlook.events import decode
from secondlook.topics import REDRIVE
from secondlook.v1 import case_pb2, intake_pb2, review_pb2
from services.topology import CONSUMES, PRODUCES
from tests.conftest import Pending, eventually
from tests.e2e.conftest import start_stack
from tests.e2e.watching import Watching
from tests.integration.kafka_reader import read_topic

pytestmark = pytest.mark.e2e

NO_SWEEPER = {"SECONDLOOK_SWEEPER_STUCK_AFTER_SECONDS": "600"}
DELIVERED = case_pb2.CASE_STATUS_DELIVERED


@pytest.fixture(scope="module")
def recovery_mail():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def recovery_stack(tmp_path_factory, recovery_mail):
    # Short POST timeouts: a dead sender's leases (timeout + 5 s) run out sooner.
    stack = start_stack(tmp_path_factory.mktemp("recovery"),
                        overrides={**NO_SWEEPER, **recovery_mail.overrides(), "SECONDLOOK_WEBHOOK_TIMEOUT_SECONDS": "2"})
    yield stack
    stack.stop()


@pytest.fixture
def replicas_stack(tmp_path_factory):  # one test's, stopped before the kill tests start
    # A stack of its own: a replica's coming and going reshapes review's consumer group,
    # which the kill tests must find as a fresh deployment would have it.
    # Replicas of review follow the change stream: a watcher on one sees the other's commits.
    stack = start_stack(tmp_path_factory.mktemp("replicas"),
                        overrides={**NO_SWEEPER, "SECONDLOOK_FOLLOW_CHANGE_STREAMS": "true"})
    yield stack
    stack.stop()


def _assignments(proc) -> list[list[str]]:
    return [json.loads(line)["partitions"] for line in proc.tail(5000).splitlines() if '"partitions_assigned"' in line]


def _partitions(stack, process: str) -> set[str]:
    """What one process's consumer holds now, from its log, together with its replicas'."""
    held = set()
    for proc in stack.processes():
        if proc.name == process or proc.name.startswith(f"{process}-"):
            assigned = _assignments(proc)
            held |= set(assigned[-1]) if assigned else set()
    return held


def _groups(stack) -> str:
    """Each service's last partition assignment, from its log: what a failure here
    most often comes down to (a consumer group that did not settle)."""
    lines = []
    for proc in stack.processes():
        assigned = [line for line in proc.tail(2000).splitlines() if '"partitions_assigned"' in line]
        if assigned:
            last = json.loads(assigned[-1])
            lines.append(f"{proc.name}: {len(last['partitions'])} partitions at {last['timestamp']}")
    return "; ".join(lines)


async def _cases(intake, authed, case_ids) -> list[intake_pb2.Case]:
    """The cases' summaries, in one ListCases call (no PHI read, nothing audited)."""
    page = await intake.ListCases(intake_pb2.ListCasesRequest(page_size=200), metadata=authed.metadata, timeout=10)
    by_id = {c.case_id: c for c in page.cases}
    return [by_id.get(c, intake_pb2.Case(case_id=c)) for c in case_ids]


async def _all_delivered(stack, intake, authed, case_ids, timeout: float, what: str) -> list[intake_pb2.Case]:
    async def done():
        try:
            cases = await _cases(intake, authed, case_ids)
        except Exception as exc:  # intake itself restarting
            return Pending(f"ListCases failed: {exc!r}"[:300])
        if all(c.status == DELIVERED for c in cases):
            return cases
        return Pending("statuses: " + ", ".join(sorted(case_pb2.CaseStatus.Name(c.status)
                                                           for c in cases if c.status != DELIVERED))
                       + f" | consumer groups: {_groups(stack)}")

    return await eventually(done, timeout, what, interval=0.2)


def _one_notice_each(receiver, case_ids) -> None:
    ids = collections.defaultdict(set)
    for r in receiver.requests:
        if r["valid"] and r["payload"]:
            ids[r["payload"]["data"]["case_id"]].add(r["headers"]["webhook-id"])
    assert {c: len(ids[c]) for c in case_ids} == {c: 1 for c in case_ids}


async def test_two_review_replicas_keep_each_cases_events_in_order_and_publish_each_once(replicas_stack):
    stack = replicas_stack
    settings = stack.settings()
    replica = stack.start_service("review", replica=1)
    await asyncio.to_thread(stack.wait_serving, replica)
    tenant = "replicas"
    receiver = await registered_receiver(settings, stack.target("notify"), tenant)
    intake, authed = clients.submitter(settings, stack.target("intake"), tenant)
    # Each specialist reaches both replicas: accept on one, start on the other,
    # submit on the first, so one case's events are written by both.
    reviewers = {sid: (clients.reviewer(settings, stack.target("review"), sid),
                       clients.reviewer(settings, stack.target(replica), sid)) for sid in clients.specialist_ids()}
    # Watching on the second replica: the changes made on the first reach it too.
    watching = [Watching(settings, stack.target(replica), sid) for sid in clients.specialist_ids()]
    try:
        replies = await asyncio.gather(*(intake.SubmitCase(r, metadata=authed.metadata, timeout=15)
                                         for r in clients.numbered_cases("replica", 50)))
        case_ids = {r.case_id for r in replies}

        async def work(sid) -> int:
            (a, a_auth), (b, b_auth) = reviewers[sid]
            listed = await a.ListAssignments(review_pb2.ListAssignmentsRequest(
                states=[review_pb2.ASSIGNMENT_STATE_OFFERED]), metadata=a_auth.metadata, timeout=10)
            done = 0
            for assignment in listed.assignments:
                if assignment.case_id not in case_ids:
                    continue
                request = review_pb2.AssignmentRequest(assignment_id=assignment.assignment_id)
                await a.AcceptAssignment(request, metadata=a_auth.metadata, timeout=10)
                await b.StartReview(request, metadata=b_auth.metadata, timeout=10)
                await a.SubmitOpinion(review_pb2.SubmitOpinionRequest(
                    assignment_id=assignment.assignment_id, opinion=clients.opinion(
                        diagnosis_concordance=case_pb2.CONCORDANCE_REFINED, reviewer_diagnosis_code="C50.912",
                        treatment_concordance=case_pb2.CONCORDANCE_SAME,
                        recommendation="SIMULATED REVIEWER", confidence=70)),
                    metadata=a_auth.metadata, timeout=10)
                done += 1
            return done

        answered = 0

        async def all_answered():
            nonlocal answered
            answered += sum(await asyncio.gather(*(work(sid) for sid in reviewers)))
            return answered == 50

        await eventually(all_answered, 90, "the 50 offers answered through both replicas", interval=0.2)
        await _all_delivered(stack, intake, authed, case_ids, 90, "the 50 cases DELIVERED")

        records = [r for r in await read_topic(stack.kafka_bootstrap, PRODUCES["review"])
                   if r.key.decode() in case_ids]
        by_case = collections.defaultdict(list)
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            by_case[r.key.decode()].append(decode(r.value))
        causal = ["assignment.accepted", "review.started", "opinion.submitted"]
        for case_id in case_ids:
            events = by_case[case_id]
            assert [e.type for e in events] == causal, (case_id, [e.type for e in events])
            assert len({e.event_id for e in events}) == 3  # each published once
        print(f"\n2 review replicas, 50 cases: {len(records)} records on {PRODUCES['review']}, "
              f"every case's 3 events once and in causal order")

        async def watched_to_the_end():
            last = {}
            for w in watching:
                for c in w.changes:
                    if c.assignment.case_id in case_ids:
                        last[c.assignment.case_id] = max(last.get(c.assignment.case_id, 0), c.version)
            return len(last) == 50 and set(last.values()) == {4}

        # accepted and submitted on the first replica, started on the second: all four versions pushed
        await eventually(watched_to_the_end, 30, "every assignment's last change pushed to the other replica")
        _one_notice_each(receiver, case_ids)
        refused = [line for line in (stack.home / "logs" / "intake.log").read_text().splitlines()
                   if "transition_refused" in line and any(c in line for c in case_ids)]
        assert refused == []

        # Scaling down hands the replica's partitions back to the first one: every partition
        # of what review consumes (not what the logs say the two held at that moment, which a
        # rebalance under way leaves half-said).
        everything = {f"{topic}:{p}" for topic in (*CONSUMES["review"], REDRIVE)
                      for p in range(stack.settings().kafka_topic_partitions)}
        stack.services.pop(replica).stop()

        async def taken_back():
            held = _partitions(stack, "review")
            return held == everything or Pending(f"{len(held)} of {len(everything)}")

        await eventually(taken_back, 30, "the replica's partitions back with the first review")
    finally:
        for w in watching:
            await w.close()
        for pair in reviewers.values():
            for _, auth in pair:
                await auth.close()
        await authed.close()
        await receiver.stop()
        if replica in stack.services:
            stack.services.pop(replica).stop()


@pytest.mark.parametrize("victim", ["intake", "matching", "review", "notify"])
async def test_a_killed_service_recovers_its_cases_on_restart_without_the_sweeper(recovery_stack, victim):
    stack = recovery_stack
    settings = stack.settings()
    tenant = f"crash-{victim}"
    receiver = await registered_receiver(settings, stack.target("notify"), tenant)
    intake, authed = clients.submitter(settings, stack.target("intake"), tenant)
    reviewer = SimulatedReviewer(settings, stack.target("review"), clients.specialist_ids()).start()
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        replies = await asyncio.gather(*(intake.SubmitCase(r, metadata=authed.metadata, timeout=15)
                                         for r in clients.numbered_cases(f"crash-{victim}", 20)))
        case_ids = [r.case_id for r in replies]

        async def in_flight():
            cases = await _cases(intake, authed, case_ids)
            moving = [c for c in cases if c.status < DELIVERED]
            return len(moving) >= 3 or None

        await eventually(in_flight, 30, "cases in flight before the kill", interval=0.02)
        before = {c.case_id: c.status for c in await _cases(intake, authed, case_ids)}
        stack.services[victim].kill()  # SIGKILL: no clean shutdown
        stack.start_service(victim)
        restarted = time.time()
        # In a thread: this loop also serves the test's webhook receiver, which must keep
        # answering while the victim restarts (blocked, notify's POSTs time out and give up).
        await asyncio.to_thread(stack.wait_serving, victim)
        serving = time.time() - restarted
        if victim == "intake":  # a new channel: the old one may be backing off its reconnects for many seconds
            await authed.close()
            intake, authed = clients.submitter(settings, stack.target("intake"), tenant)

        cases = await _all_delivered(stack, intake, authed, case_ids, 60, f"all 20 DELIVERED after {victim} restarted")
        last = max(next(e.occurred_at for e in c.timeline if e.status == DELIVERED).ToDatetime().timestamp()
                   for c in cases)
        print(f"\nkill -9 {victim} with {sum(s < DELIVERED for s in before.values())} of 20 cases in flight: "
              f"SERVING {serving:.1f}s after restart, last case DELIVERED {max(0.0, last - restarted):.1f}s "
              f"after restart")
        _one_notice_each(receiver, case_ids)
        deliveries = mongo["secondlook_notify"]["deliveries"]
        assert await deliveries.count_documents({"tenant_id": tenant, "status": "delivered", "channel": "webhook"}) == 20
        redrives = mongo["secondlook_intake"]["outbox"]
        assert await redrives.count_documents({"type": "redrive.requested", "case_id": {"$in": case_ids}}) == 0
    finally:
        await reviewer.stop()
        await authed.close()
        await receiver.stop()
        await mongo.close()


async def test_notify_killed_mid_batch_sends_each_notice_once_per_recipient_and_channel(recovery_stack, recovery_mail):
    """17 cases reach their opinions together: 68 deliveries (a webhook to the tenant,
    e-mails to each patient and physician, a text to each patient with a number). notify is killed with SIGKILL once some
    went out and others not, and restarted: every event reaches every recipient on
    every channel once. A message sent again under the same id (its sender died
    after the receiver took it, before recording it) is a repeat a receiver drops:
    counted and printed, never a second id for the same notice."""
    stack, mail = recovery_stack, recovery_mail
    settings = stack.settings()
    tenant = "crash-batch"
    receiver = await registered_receiver(settings, stack.target("notify"), tenant)
    intake, authed = clients.submitter(settings, stack.target("intake"), tenant)
    reviewer = SimulatedReviewer(settings, stack.target("review"), clients.specialist_ids()).start()
    mongo = AsyncMongoClient(stack.mongo_uri)
    events: set[str] = set()  # this test's opinions (earlier tests' e-mails may still come in)

    def emails() -> list:
        return [m for m in mail.delivered() if str(m["X-Secondlook-Delivery"] or "").split(":")[0] in events]

    async def learn_events() -> None:
        found = await mongo["secondlook_notify"]["deliveries"].find(
            {"tenant_id": tenant, "channel": "webhook"}, projection={"event_id": 1}).to_list()
        events.update(d["event_id"] for d in found)

    try:
        requests = clients.numbered_cases("crash-batch", 17)
        phones = sum(bool(r.patient.phone) for r in requests)  # the others' texts are skipped: no number
        replies = await asyncio.gather(*(intake.SubmitCase(r, metadata=authed.metadata, timeout=15)
                                         for r in requests))
        case_ids = [r.case_id for r in replies]

        def received() -> int:
            return len([r for r in receiver.requests if r["valid"]]) + len(emails())

        async def first_out():
            await learn_events()
            return received() >= 5

        await eventually(first_out, 60, "the first notices out", interval=0.01)
        out_at_kill = received()
        stack.services["notify"].kill()  # SIGKILL, mid-batch
        assert out_at_kill < 51, "every webhook and e-mail was out before the kill: nothing was tested"
        stack.start_service("notify")
        await asyncio.to_thread(stack.wait_serving, "notify")
        await _all_delivered(stack, intake, authed, case_ids, 90, "all 17 DELIVERED after notify restarted")

        def ids_by_recipient() -> dict[str, set[str]]:
            found = collections.defaultdict(set)
            for m in emails():
                delivery = str(m["X-Secondlook-Delivery"]).strip()
                event_id, recipient, channel = delivery.rsplit(":", 2)
                message_id = str(m["Message-ID"]).strip()
                assert channel == "email" and message_id == f"<{delivery.replace(':', '.')}@notify.secondlook>"
                found[recipient].add(event_id)
            return found

        async def all_emails():
            await learn_events()
            return len(events) == 17 and all(len(ids_by_recipient()[r]) == 17 for r in ("patient", "physician"))

        await eventually(all_emails, 60, "an e-mail per case to each patient and physician")
        async def all_texts():
            found = [t for t in stack.texts() if t["id"].split(":")[0] in events]
            return found if len({t["id"] for t in found}) == phones else None

        texts = await eventually(all_texts, 60, f"a text to each of the {phones} patients with a number")
        assert all(t["id"].endswith(":patient:sms") for t in texts)
        skipped = await mongo["secondlook_notify"]["deliveries"].count_documents(
            {"tenant_id": tenant, "channel": "sms", "recipient": "patient", "status": "skipped"})
        assert skipped == 17 - phones
        text_repeats = len(texts) - len({t["id"] for t in texts})
        _one_notice_each(receiver, case_ids)  # one webhook-id per case
        by_id = collections.Counter(str(m["Message-ID"]).strip() for m in emails())
        hooks = collections.Counter(r["headers"]["webhook-id"] for r in receiver.requests if r["valid"])
        assert len(by_id) == 34 and len(hooks) == 17  # distinct notices: exactly one per event, recipient, channel
        repeats = (sum(by_id.values()) - len(by_id)) + (sum(hooks.values()) - len(hooks))
        repeats += text_repeats
        print(f"\nkill -9 notify with {out_at_kill} of 51 webhooks and e-mails out: every notice arrived; "
              f"{repeats} repeat(s) under the same id ({sum(hooks.values()) - len(hooks)} webhook, "
              f"{sum(by_id.values()) - len(by_id)} e-mail, {text_repeats} text)")
    finally:
        await reviewer.stop()
        await authed.close()
        await receiver.stop()
        await mongo.close()

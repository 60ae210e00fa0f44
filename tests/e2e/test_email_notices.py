"""Acceptance: a case's patient and referring physician get their e-mails through a
real SMTP server, each in their own language, addressed from intake's GetContacts
at send time (recorded in the case's access audit); GetContacts answers notify's
service identity only; the delivery log shows the e-mails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from devstack.receiver import WebhookReceiver
from devstack.simreviewer import SimulatedReviewer
from secondlook.auth import mint_token
from secondlook.v1 import case_pb2, intake_pb2, intake_pb2_grpc, notify_pb2
from tests.conftest import eventually
from tests.e2e.specialists import case_for, list_specialists

pytestmark = pytest.mark.e2e

PLACE = "US-AK"  # only this file's specialist is licensed here for its cases (no other test uses it)
TENANT = "tenant-email"


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_patient_and_physician_get_one_email_each_in_their_language(stack, stack_settings, mail):
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    intake, submitter = clients.submitter(stack_settings, stack.target("intake"), TENANT)
    notify, tenant_admin = clients.tenant_admin(stack_settings, stack.target("notify"), TENANT)
    reviewer = None
    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        await list_specialists(directory, admin, PLACE, ("ak-mail", 1.0, ""), languages=("en", "es"))
        reviewer = SimulatedReviewer(stack_settings, stack.target("review"), ["ak-mail"]).start()
        request = case_for("email", PLACE, panel_requested=False, blind_review_requested=False)
        request.language = "es-US"
        request.patient.email = "paciente.email-e2e@example.org"
        request.first_opinion.physician.email = "referrer.email-e2e@example.org"
        case_id = (await intake.SubmitCase(request, metadata=submitter.metadata, timeout=10)).case_id

        def received():
            return {m["To"]: m for m in mail.delivered()
                    if m["To"] in (request.patient.email, request.first_opinion.physician.email)}

        got = await eventually(lambda: asyncio.sleep(0, result=len(received()) == 2 and received()), 90,
                               "the patient's and the physician's e-mails")
        patient, physician = got[request.patient.email], got[request.first_opinion.physician.email]
        assert patient["Content-Language"] == "es" and "segunda opinión" in str(patient["Subject"])
        assert physician["Content-Language"] == "en"  # the physician's language is not known: English
        assert "portal" in mail.body(patient) and "<a href=" in mail.body(patient)
        assert len([m for m in mail.delivered() if m["To"] == request.patient.email]) == 1

        # intake recorded each read of the contacts, naming the notice.
        async def audited():
            found = await mongo["secondlook_intake"]["audit"].find({"case_id": case_id, "method": "GetContacts"}) \
                .to_list()
            return found or None

        reads = await eventually(audited, 30, "the contact read in the access audit")
        assert all(r["subject"].startswith("case.opinion_ready notice ") and r["subject"].endswith(
            " via service:notify") for r in reads)

        async def recorded():  # the relay took them; notify records that just after
            listed = await notify.ListDeliveries(notify_pb2.ListDeliveriesRequest(case_id=case_id),
                                                 metadata=tenant_admin.metadata)
            emails = {d.recipient: d for d in listed.deliveries
                      if d.channel == "email" and d.recipient in ("patient", "physician")}
            done = all(d.status == notify_pb2.DELIVERY_STATUS_DELIVERED for d in emails.values())
            return emails if len(emails) == 2 and done else None

        emails = await eventually(recorded, 30, "both e-mails recorded delivered")
        assert set(emails) == {"patient", "physician"} and all(d.log[-1].status_code == 250 for d in emails.values())
        # And a text to the patient, in Spanish too (the development adapter's file).
        listed = await notify.ListDeliveries(notify_pb2.ListDeliveriesRequest(case_id=case_id),
                                             metadata=tenant_admin.metadata)
        [text_delivery] = [d for d in listed.deliveries if d.channel == "sms" and d.recipient == "patient"]
        texts = await eventually(lambda: asyncio.sleep(0, result=[t for t in stack.texts()
                                                                  if t["id"] == text_delivery.delivery_id]),
                                 30, "the patient's text message")
        assert {(t["to"], t["body"]) for t in texts} == {(texts[0]["to"], texts[0]["body"])}  # repeats: same words
        assert texts[0]["to"] == request.patient.phone and "segunda opinión" in texts[0]["body"]
        # The notice's three messages (two e-mails, a text) were addressed from one read, naming the notice.
        reads = await mongo["secondlook_intake"]["audit"].find({"case_id": case_id, "method": "GetContacts"}) \
            .to_list()
        assert len(reads) == 1, [r["subject"] for r in reads]
        async def opinion_ready():
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=submitter.metadata)
            return case if case.status >= case_pb2.CASE_STATUS_OPINION_READY else None

        case = await eventually(opinion_ready, 30, "intake to record the opinion")
        assert case.first_opinion.physician.email == request.first_opinion.physician.email
        # The e-mails are not a stage: the case is DELIVERED once its tenant has the webhook (it has no endpoint).
        assert case.status == case_pb2.CASE_STATUS_OPINION_READY
    finally:
        if reviewer is not None:
            await reviewer.stop()
        await mongo.close()
        for a in (admin, submitter, tenant_admin):
            await a.close()


@pytest.mark.parametrize("who, roles, code", [
    ("coordinator@example.org", ["submitter"], grpc.StatusCode.PERMISSION_DENIED),
    ("service:review", ["case-reader"], grpc.StatusCode.PERMISSION_DENIED),
    ("service:matching", ["contact-reader"], grpc.StatusCode.PERMISSION_DENIED),  # the role, not notify's identity
])
async def test_contacts_answer_the_notify_service_only(stack, stack_settings, who, roles, code):
    token = mint_token(stack_settings, subject=who, tenant="secondlook-services", roles=roles)
    async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        error = await _refused(stub.GetContacts(intake_pb2.GetContactsRequest(case_id="x", purpose="p"),
                                                metadata=(("authorization", f"Bearer {token}"),)))
        assert error.code() == code
        error = await _refused(stub.GetContacts(intake_pb2.GetContactsRequest(case_id="x", purpose="p")))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_contacts_refuse_a_request_without_a_purpose_and_an_unknown_case(stack, stack_settings):
    token = mint_token(stack_settings, subject="service:notify", tenant="secondlook-services",
                       roles=["contact-reader"])
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(stack.target("intake")) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        error = await _refused(stub.GetContacts(intake_pb2.GetContactsRequest(), metadata=metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "case_id" in error.details() and "purpose" in error.details()
        error = await _refused(stub.GetContacts(intake_pb2.GetContactsRequest(case_id="no-such-case", purpose="test"),
                                                metadata=metadata))
        assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_a_withdrawn_cases_patient_and_tenant_hear_of_it(stack, stack_settings, mail):
    """Withdrawn while offered: the patient gets an e-mail and a text saying so (nothing of
    the case in them), the tenant's endpoint subscribed to the case's stages gets
    case.offered then case.withdrawn with the reason's code."""
    place, tenant = "US-HI", "tenant-withdrawn-notices"  # no other test uses this state
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    intake, submitter = clients.submitter(stack_settings, stack.target("intake"), tenant)
    notify, tenant_admin = clients.tenant_admin(stack_settings, stack.target("notify"), tenant)
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        await list_specialists(directory, admin, place, ("hi-mail", 1.0, ""))  # nobody answers its offers
        created = await notify.CreateEndpoint(notify_pb2.CreateEndpointRequest(
            url=receiver.url, event_types=["case.offered", "case.withdrawn"]), metadata=tenant_admin.metadata)
        receiver.secret = created.secret
        request = case_for("withdrawn", place, panel_requested=False, blind_review_requested=False)
        request.patient.email = "patient.withdrawn-e2e@example.org"
        case_id = (await intake.SubmitCase(request, metadata=submitter.metadata, timeout=10)).case_id
        await eventually(lambda: asyncio.sleep(0, result=[p for p in receiver.verified
                                                          if p["type"] == "case.offered"]), 60, "case.offered")
        await intake.WithdrawCase(intake_pb2.WithdrawCaseRequest(
            case_id=case_id, reason=case_pb2.WITHDRAWAL_REASON_PATIENT_REQUEST, note="canary-note-x"),
            metadata=submitter.metadata)
        withdrawn = await eventually(lambda: asyncio.sleep(0, result=[p for p in receiver.verified
                                                                      if p["type"] == "case.withdrawn"]),
                                     60, "case.withdrawn at the tenant's endpoint")
        assert withdrawn[0]["data"] == {"case_id": case_id, "tenant_id": tenant, "status": "WITHDRAWN",
                                        "reason": "PATIENT_REQUEST", "event_id": withdrawn[0]["data"]["event_id"]}
        emails = await eventually(lambda: asyncio.sleep(0, result=[m for m in mail.delivered()
                                                                   if m["To"] == request.patient.email]),
                                  60, "the patient's withdrawal e-mail")
        assert "withdrawn" in str(emails[0]["Subject"]) and "canary-note-x" not in mail.body(emails[0])
        listed = await notify.ListDeliveries(notify_pb2.ListDeliveriesRequest(case_id=case_id),
                                             metadata=tenant_admin.metadata)
        [text] = [d for d in listed.deliveries if d.channel == "sms" and d.recipient == "patient"]
        assert text.notice_type == "case.withdrawn" and text.recipient == "patient"
        texts = await eventually(lambda: asyncio.sleep(0, result=[t for t in stack.texts()
                                                                  if t["id"] == text.delivery_id]),
                                 30, "the patient's withdrawal text")
        assert texts[0]["to"] == request.patient.phone and "withdrawn" in texts[0]["body"]
        assert [p["type"] for p in receiver.verified] == ["case.offered", "case.withdrawn"]
        assert len(emails) == 1
    finally:
        await receiver.stop()
        for a in (admin, submitter, tenant_admin):
            await a.close()


async def test_preferences_hold_a_routine_notice_in_quiet_hours_and_mute_a_channel(stack, stack_settings, mail):
    """The tenant's quiet hours cover now: a routine case's patient e-mail waits for them
    to end (postponed, not an attempt), an expedited case's goes at once; the patient
    who muted texts is not texted. Preferences are refused field by field, and a
    reviewer may not set a patient's."""
    place, tenant = "US-NE", "tenant-quiet-hours"  # no other test uses this state
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    intake, submitter = clients.submitter(stack_settings, stack.target("intake"), tenant)
    notify, tenant_admin = clients.tenant_admin(stack_settings, stack.target("notify"), tenant)
    reviewer = None
    try:
        error = await _refused(notify.SetNotificationPreferences(notify_pb2.SetNotificationPreferencesRequest(
            subject=notify_pb2.PreferencesSubject(tenant=True), muted_channels=["pigeon"],
            quiet_hours=notify_pb2.QuietHours(start="9pm", end="07:00", time_zone="Atlantis/Central")),
            metadata=tenant_admin.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert all(f in error.details() for f in ("muted_channels[0]", "quiet_hours.start", "quiet_hours.time_zone"))
        now = datetime.now(UTC)
        start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
        saved = await notify.SetNotificationPreferences(notify_pb2.SetNotificationPreferencesRequest(
            subject=notify_pb2.PreferencesSubject(tenant=True),
            quiet_hours=notify_pb2.QuietHours(start=start, end=end, time_zone="UTC")), metadata=tenant_admin.metadata)
        assert saved.version == 1 and saved.quiet_hours.start == start
        await list_specialists(directory, admin, place, ("ne-quiet", 1.0, ""))  # offered; answered once set below
        routine = case_for("quiet-routine", place, panel_requested=False, blind_review_requested=False)
        urgent = case_for("quiet-urgent", place, panel_requested=False, blind_review_requested=False,
                          urgency=case_pb2.URGENCY_EXPEDITED)
        routine.patient.email, urgent.patient.email = "quiet.routine@example.org", "quiet.urgent@example.org"
        ids = [(await intake.SubmitCase(r, metadata=submitter.metadata, timeout=10)).case_id for r in (routine, urgent)]
        muted = await notify.SetNotificationPreferences(notify_pb2.SetNotificationPreferencesRequest(
            subject=notify_pb2.PreferencesSubject(patient_of_case=ids[1]), muted_channels=["sms"]),
            metadata=submitter.metadata)
        assert list(muted.muted_channels) == ["sms"]
        someone = mint_token(stack_settings, subject="r", tenant=tenant, roles=["reviewer"], specialist_id="ne-quiet")
        error = await _refused(notify.GetNotificationPreferences(notify_pb2.GetNotificationPreferencesRequest(
            subject=notify_pb2.PreferencesSubject(patient_of_case=ids[1])),
            metadata=(("authorization", f"Bearer {someone}"),)))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        reviewer = SimulatedReviewer(stack_settings, stack.target("review"), ["ne-quiet"]).start()

        async def settled():
            listed = {}
            for case_id in ids:
                try:
                    reply = await notify.ListDeliveries(notify_pb2.ListDeliveriesRequest(case_id=case_id),
                                                        metadata=tenant_admin.metadata)
                except grpc.aio.AioRpcError as exc:  # none yet
                    if exc.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                    return None
                listed[case_id] = {(d.recipient, d.channel): d for d in reply.deliveries
                                   if d.channel != "webhook" and d.log}
            seen.clear()
            seen.update({c[:8]: {k: (d.status, [(a.outcome, a.error) for a in d.log]) for k, d in v.items()}
                         for c, v in listed.items()})
            waiting = listed[ids[0]].get(("patient", "email"))
            sent = listed[ids[1]].get(("patient", "email"))
            text = listed[ids[1]].get(("patient", "sms"))
            ready = waiting and waiting.log[-1].outcome == "postponed" and sent and text and \
                sent.status == notify_pb2.DELIVERY_STATUS_DELIVERED and text.status == notify_pb2.DELIVERY_STATUS_SKIPPED
            return listed if ready else None

        seen: dict = {}  # what the log showed last, for a failure's message
        try:
            listed = await eventually(settled, 90, "the routine notice postponed, the expedited one sent, its text muted")
        except BaseException:
            print("deliveries seen:", seen)
            raise
        waiting = listed[ids[0]][("patient", "email")]
        assert waiting.status == notify_pb2.DELIVERY_STATUS_PENDING and waiting.attempts <= 1
        assert "quiet hours" in waiting.log[-1].error
        due = waiting.next_attempt_at.ToDatetime(tzinfo=UTC)
        assert timedelta(hours=1) < due - now <= timedelta(hours=2, minutes=1)
        assert "notification preferences" in listed[ids[1]][("patient", "sms")].last_error
        assert [m["To"] for m in mail.delivered() if m["To"] in (routine.patient.email, urgent.patient.email)] == \
            [urgent.patient.email]
    finally:
        if reviewer is not None:
            await reviewer.stop()
        for a in (admin, submitter, tenant_admin):
            await a.close()


async def test_a_reviewer_hears_of_an_offer_and_operations_of_a_case_nobody_can_take(stack, stack_settings, mail):
    """The offered reviewer gets an e-mail and a text (addressed from matching's
    directory, the read audited there), nothing of the case in them; a case nobody is
    licensed for escalates to operations by e-mail, naming the case and the cause."""
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    intake, submitter = clients.submitter(stack_settings, stack.target("intake"), "tenant-reviewer-notices")
    try:
        await list_specialists(directory, admin, "US-KS", ("ks-reach", 1.0, ""), phone="+14155550299")
        offered = case_for("reviewer-notice", "US-KS", panel_requested=False, blind_review_requested=False)
        nobody = case_for("ops-notice", "US-WV", panel_requested=False, blind_review_requested=False)  # nobody there
        offered_id, nobody_id = [(await intake.SubmitCase(r, metadata=submitter.metadata, timeout=10)).case_id
                                 for r in (offered, nobody)]
        emails = await eventually(lambda: asyncio.sleep(0, result=[m for m in mail.delivered()
                                                                   if m["To"] == "ks-reach@reviewers.example"]),
                                  60, "the reviewer's offer e-mail")
        assert "offered to you" in str(emails[0]["Subject"]) and offered_id not in mail.body(emails[0])
        assert offered.diagnosis_code not in mail.body(emails[0])
        texts = await eventually(lambda: asyncio.sleep(0, result=[t for t in stack.texts()
                                                                  if t["to"] == "+14155550299"]),
                                 30, "the reviewer's offer text")
        assert "offered to you" in texts[0]["body"]
        escalations = await eventually(lambda: asyncio.sleep(0, result=[
            m for m in mail.delivered() if m["To"] == "operations@secondlook.example"
            and nobody_id in str(m["Subject"])]), 60, "operations' escalation e-mail")
        assert "NOBODY_ELIGIBLE" in mail.body(escalations[0]) and "tenant-reviewer-notices" in mail.body(escalations[0])
        for canary in (nobody.patient.email, nobody.diagnosis_code):
            assert canary not in mail.body(escalations[0])
        assert len(escalations) == 1 and len(emails) == 1
    finally:
        for a in (admin, submitter):
            await a.close()

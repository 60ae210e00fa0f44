"""Acceptance: canary strings planted in every PHI field of cases sent over gRPC
and over FHIR (and in records added later, a withdrawal note, every text of the
reviewer's opinion and blind assessment, the reviewer's question and the records
that answer it) are found
nowhere PHI must not be once the cases are DELIVERED: not in any service's log,
not on any /metrics page, not in any Kafka payload read back from the broker,
not in any webhook body."""

from __future__ import annotations

import asyncio
import urllib.request

import bson
import pytest
from pymongo import AsyncMongoClient

from devstack import clients
from devstack.receiver import registered_receiver
from devstack.simreviewer import SimulatedReviewer
from secondlook.phi import PhiCipher
from secondlook.v1 import case_pb2, intake_pb2
from services.topology import ALL_TOPICS
from tests.conftest import eventually
from tests.e2e.canaries import plant_canaries, plant_fhir_canaries
from tests.integration.kafka_reader import read_topic

pytestmark = pytest.mark.e2e

TENANT = "tenant-canaries"
DELIVERED = case_pb2.CASE_STATUS_DELIVERED


def _metrics(port: int) -> bytes:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()


async def test_no_canary_reaches_logs_metrics_kafka_webhooks_or_emails(stack, stack_settings, mail):
    receiver = await registered_receiver(stack_settings, stack.target("notify"), TENANT)
    # The reviewer's texts too (opinion, summary for the patient, tests, a blind assessment).
    # Every specialist listed, not only the seed: a panel's adjudicator may be one another test added.
    reviewer = SimulatedReviewer(stack_settings, stack.target("review"),
                                 await clients.directory_ids(stack_settings, stack.target("matching")),
                                 mark="canaryopinion").start()
    intake, authed = clients.submitter(stack_settings, stack.target("intake"), TENANT)
    try:
        by_grpc = clients.sample_cases(prefix="canary-grpc-")[0]
        canaries = plant_canaries(by_grpc)
        grpc_case = (await intake.SubmitCase(by_grpc, metadata=authed.metadata, timeout=10)).case_id
        reviewer.ask_more_info_on(grpc_case)  # its question carries the reviewer's canary too
        bundle = clients.sample_bundle("canary-fhir-1")
        canaries += plant_fhir_canaries(bundle)
        status, reply, _ = await clients.submit_bundle(stack_settings, stack.fhir_base(), TENANT, bundle)
        assert status == 201, reply
        fhir_case = reply["entry"][0]["response"]["location"].split("/")[1]

        # A third case gets records added later and is withdrawn with a note.
        withdrawn = clients.sample_cases(prefix="canary-withdrawn-")[0]
        canaries += plant_canaries(withdrawn)
        withdrawn_case = (await intake.SubmitCase(withdrawn, metadata=authed.metadata, timeout=10)).case_id
        added = intake_pb2.Attachment(uri="https://records.example.org/canaryadded/later.pdf", title="Title canaryadded",
                                      media_type="application/pdf", size_bytes=10, sha256="ab" * 32)
        await intake.AddDocuments(intake_pb2.AddDocumentsRequest(case_id=withdrawn_case, attachments=[added]),
                                  metadata=authed.metadata, timeout=10)
        await intake.WithdrawCase(intake_pb2.WithdrawCaseRequest(
            case_id=withdrawn_case, reason=case_pb2.WITHDRAWAL_REASON_PATIENT_REQUEST, note="Note canarynote"),
            metadata=authed.metadata, timeout=10)
        canaries += ["canaryadded", "canarynote", "canaryopinion", "canaryanswer"]

        async def asked():
            case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=grpc_case), metadata=authed.metadata)
            return case if case.status == case_pb2.CASE_STATUS_NEEDS_INFO and case.info_requests else None

        waiting = await eventually(asked, 60, "the reviewer's question on the canary case")
        assert "canaryopinion" in waiting.info_requests[0].questions[0]  # the submitter reads it over the API
        answer = intake_pb2.Attachment(uri="https://records.example.org/canaryanswer/imaging.pdf",
                                       title="Imaging canaryanswer", media_type="application/pdf", size_bytes=10,
                                       sha256="cd" * 32)
        await intake.AddDocuments(intake_pb2.AddDocumentsRequest(case_id=grpc_case, attachments=[answer]),
                                  metadata=authed.metadata, timeout=10)

        async def delivered():
            cases = [await intake.GetCase(intake_pb2.GetCaseRequest(case_id=c), metadata=authed.metadata, timeout=10)
                     for c in (grpc_case, fhir_case)]
            return cases if all(c.status == DELIVERED for c in cases) else None

        grpc_read, fhir_read = await eventually(delivered, 120, "both canary cases DELIVERED")
        # The canaries were taken in, whole: the API gives them back to the case's tenant.
        assert grpc_read.patient.family_name in canaries and fhir_read.patient.family_name in canaries
        assert fhir_read.clinical_question in canaries and fhir_read.attachments[0].title in canaries
        await eventually(lambda: asyncio.sleep(0, result=receiver.for_case(fhir_case)), 30, "the FHIR case's webhook")

        # The e-mails to the canary cases' patients and physicians, but for the To header (it must name them).
        grpc_case_read = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=grpc_case), metadata=authed.metadata)
        addresses = {grpc_case_read.patient.email, grpc_case_read.first_opinion.physician.email}
        await eventually(lambda: asyncio.sleep(0, result=len([m for m in mail.delivered() if m["To"] in addresses])
                                                >= 3), 30, "the canary case's e-mails (two notices to the patient,"
                                                           " one to the physician)")
        places: dict[str, bytes] = {}
        for name, proc in stack.services.items():
            places[f"{name} log"] = proc.log_path.read_bytes()
            places[f"{name} /metrics"] = await asyncio.to_thread(_metrics, stack.metrics_ports[name])
        bootstrap = f"127.0.0.1:{stack.kafka_port}"
        for topic in ALL_TOPICS:
            records = await read_topic(bootstrap, topic)
            places[f"topic {topic}"] = b"\n".join(
                (r.value or b"") + b"".join((v or b"") for _, v in r.headers or ()) for r in records)
        places["webhook bodies"] = b"\n".join(r["body"] for r in receiver.requests)
        emails = [m for m in mail.delivered() if m["To"] in addresses]
        places["email subjects and bodies"] = "\n".join(
            str(m["Subject"]) + "\n" + mail.body(m) for m in emails).encode()
        texts = await eventually(lambda: asyncio.sleep(0, result=[
            t for t in stack.texts() if t["to"] == grpc_case_read.patient.phone] or None), 30,
            "the canary patient's texts")  # the bodies: the number is where a text goes
        places["text messages"] = "\n".join(t["body"] for t in texts).encode()
        assert places["webhook bodies"] and places["topic " + ALL_TOPICS[0]]  # there was something to search
        assert places["email subjects and bodies"] and places["text messages"]
        # The reviewer's canary was written (review keeps it, sealed), so its absence elsewhere means something.
        mongo = AsyncMongoClient(stack.mongo_uri)
        cipher = PhiCipher(stack.settings(), mongo, "review-phi")
        try:
            signed = await mongo["secondlook_review"]["opinions"].find_one({"case_id": grpc_case})
            review = mongo["secondlook_review"]
            at_rest = b"".join([bson.encode(d) for name in await review.list_collection_names()
                                for d in await review[name].find().to_list()])
            assert signed is not None and b"canaryopinion" not in at_rest  # the opinion, the blind assessment
            texts = await cipher.open(signed["texts"])
        finally:
            await cipher.close()
            await mongo.close()
        assert "canaryopinion" in texts["narrative"] and "canaryopinion" in texts["patient_summary"]
        found = {(c, where) for c in canaries for where, data in places.items() if c.encode() in data}
        assert not found, f"PHI leaked: {sorted(found)}"
    finally:
        await reviewer.stop()
        await receiver.stop()
        await authed.close()

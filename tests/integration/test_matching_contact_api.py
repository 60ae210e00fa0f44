"""GetSpecialistContact over real gRPC (the service's own server: auth and edge
interceptors) against the real store: the notify service reads a reviewer's
contact channel by channel, each read in matching's access audit; anybody else,
bad input, an unknown or deactivated specialist are refused; and a bad e-mail on
UpsertSpecialist is refused naming `specialist.email`, nothing written; and
`secondlook audit --service matching` verifies and shows the reads."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from secondlook import audit as audit_chain
from secondlook import auditlog
from secondlook.auditlog import MongoAuditLog
from secondlook.auth import mint_token
from secondlook.clock import Clock
from secondlook.deadlines import Deadlines
from secondlook.grpcserver import GrpcServer
from secondlook.store import OUTBOX, Store
from secondlook.unitofwork import transactor
from secondlook.v1 import matching_pb2, matching_pb2_grpc
from services.matching import reference, repository, usecases
from services.matching.grpc_api import MatchingServicer
from services.matching.repository import DirectoryCache, MatchingUnitOfWork, MongoMatchingRepository

pytestmark = pytest.mark.integration

EMAIL, PHONE = "dr.kit.synth@reviewers.example", "+14155552671"


def _specialist(**changes) -> matching_pb2.Specialist:
    msg = matching_pb2.Specialist(
        specialist_id="rev-1", npi="1234567893", display_name="Dr. Kit Synth (synthetic)", specialties=["207RX0202X"],
        licences=[matching_pb2.Licence(jurisdiction="US-CA", expires="2099-12-31")],
        certifications=[matching_pb2.Certification(board="ABIM", specialty="207RX0202X", expires="2099-12-31")],
        languages=["es", "en"], capacity=2, accepting=True, email=EMAIL, phone=PHONE, notice_language="es-mx")
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


class Matching:
    """matching's gRPC API served in this process over the test's database."""

    def __init__(self, settings, store: Store):
        self.settings, self.store = settings, store
        self.audit = MongoAuditLog(store.db)
        cache = DirectoryCache(store.db, ttl_seconds=3600)
        deadlines = Deadlines(Clock())
        transact = transactor(store, lambda uow: MatchingUnitOfWork(uow, cache, deadlines))
        policy = usecases.MatchPolicy(reference.specialty_map())
        servicer = MatchingServicer(transact, MongoMatchingRepository(store.db, cache, deadlines),
                                    reference.taxonomy(), Clock(), policy, cache.specialists, self.audit)

        def register(server):
            matching_pb2_grpc.add_MatchingServiceServicer_to_server(servicer, server)
            return [matching_pb2.DESCRIPTOR.services_by_name["MatchingService"].full_name]

        self.server = GrpcServer(settings, "matching-contact-test", register)
        self.channel: grpc.aio.Channel | None = None

    async def start(self) -> matching_pb2_grpc.MatchingServiceStub:
        await self.audit.ensure_indexes()
        await self.server.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.server.port}")
        return matching_pb2_grpc.MatchingServiceStub(self.channel)

    def as_(self, subject: str, tenant: str, *roles: str) -> tuple[tuple[str, str], ...]:
        token = mint_token(self.settings, subject=subject, tenant=tenant, roles=list(roles))
        return (("authorization", f"Bearer {token}"),)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        await self.server.stop(0)


@pytest.fixture
async def matching(infra_settings):
    settings = infra_settings.model_copy(update={"grpc_port": 0, "grpc_host": "127.0.0.1"})
    store = Store(settings, "matching")
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)
    api = Matching(settings, store)
    stub = await api.start()
    try:
        yield api, stub
    finally:
        await api.stop()
        await store.client.drop_database(store.db.name)
        await store.close()


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def _fields(error: grpc.aio.AioRpcError) -> list[str]:
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(error).details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SECONDLOOK_MONGO_URI": settings.mongo_uri,
           "SECONDLOOK_MONGO_DATABASE_PREFIX": settings.mongo_database_prefix, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "secondlook.cli", "audit", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def _ask(specialist_id="rev-1", purpose="assignment.offered notice e-1", channels=()):
    return matching_pb2.GetSpecialistContactRequest(specialist_id=specialist_id, purpose=purpose,
                                                    channels=list(channels))


async def test_the_notify_service_reads_a_reviewers_contact_channel_by_channel(matching):
    api, stub = matching
    admin = api.as_("admin@example.org", "secondlook-operations", "directory-admin")
    notify = api.as_("service:notify", "secondlook-services", "contact-reader")
    saved = await stub.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=_specialist()),
                                        metadata=admin)
    assert (saved.specialist.email, saved.specialist.phone, saved.specialist.notice_language) == \
        (EMAIL, PHONE, "es-MX")  # the directory admin sees them
    got = await stub.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id="rev-1"), metadata=admin)
    assert (got.email, got.phone) == (EMAIL, PHONE)
    outbox = await api.store.db[OUTBOX].find({"shard": {"$gte": 0}}).to_list()
    assert outbox and all(EMAIL.encode() not in bytes(r["payload"]) and PHONE.encode() not in bytes(r["payload"])
                          for r in outbox), "a contact detail reached an event"

    by_email = await stub.GetSpecialistContact(_ask(), metadata=notify)  # no channel: e-mail
    assert by_email == matching_pb2.SpecialistContact(specialist_id="rev-1", email=EMAIL, language="es-MX")
    by_sms = await stub.GetSpecialistContact(_ask(channels=["sms"]), metadata=notify)
    assert by_sms == matching_pb2.SpecialistContact(specialist_id="rev-1", phone=PHONE, language="es-MX")
    both = await stub.GetSpecialistContact(_ask(purpose="sla.reminder notice e-2", channels=["email", "sms", "sms"]),
                                           metadata=notify)
    assert (both.email, both.phone, both.language) == (EMAIL, PHONE, "es-MX")
    await stub.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=_specialist(notice_language="")),
                                metadata=admin)
    defaulted = await stub.GetSpecialistContact(_ask(), metadata=notify)
    assert defaulted.language == "en"  # the first of en, es as the directory lists them

    records = [r async for r in auditlog.chain_of(api.store.db, usecases.DIRECTORY_AUDIT)]
    assert audit_chain.verify(records) == (4, None)
    assert [(r["subject"], r["method"], r["case_id"], r["fields"]) for r in records[:3]] == [
        ("assignment.offered notice e-1 via service:notify", "GetSpecialistContact", "rev-1", ["email", "language"]),
        ("assignment.offered notice e-1 via service:notify", "GetSpecialistContact", "rev-1", ["phone", "language"]),
        ("sla.reminder notice e-2 via service:notify", "GetSpecialistContact", "rev-1",
         ["email", "language", "phone"]),
    ]
    assert not any(EMAIL in str(r) or PHONE in str(r) for r in records)  # why it was read, never what

    verified = await asyncio.to_thread(_cli, api.settings, "verify", "--service", "matching")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert usecases.DIRECTORY_AUDIT in verified.stdout and "whole" in verified.stdout
    shown = await asyncio.to_thread(_cli, api.settings, "show", "rev-1", "--service", "matching")
    assert shown.returncode == 0 and "sla.reminder notice e-2 via service:notify" in shown.stdout
    assert EMAIL not in shown.stdout and PHONE not in shown.stdout


@pytest.mark.parametrize("subject, tenant, roles, code", [
    ("service:review", "secondlook-services", ["contact-reader"], grpc.StatusCode.PERMISSION_DENIED),
    ("service:notify", "mercy-general", ["contact-reader"], grpc.StatusCode.PERMISSION_DENIED),
    ("admin@example.org", "secondlook-operations", ["directory-admin"], grpc.StatusCode.PERMISSION_DENIED),
    ("service:notify", "secondlook-services", ["case-reader"], grpc.StatusCode.PERMISSION_DENIED),
])
async def test_nobody_but_the_notify_service_reads_a_contact(matching, subject, tenant, roles, code):
    api, stub = matching
    await stub.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=_specialist()),
                                metadata=api.as_("admin@example.org", "secondlook-operations", "directory-admin"))
    error = await _refused(stub.GetSpecialistContact(_ask(), metadata=api.as_(subject, tenant, *roles)))
    assert error.code() == code
    assert EMAIL not in error.details() and PHONE not in error.details()
    error = await _refused(stub.GetSpecialistContact(_ask()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await auditlog.tenants(api.store.db) == []  # nothing was read, nothing recorded


async def test_bad_requests_name_their_fields_and_unknown_or_deactivated_specialists_are_not_found(matching):
    api, stub = matching
    admin = api.as_("admin@example.org", "secondlook-operations", "directory-admin")
    notify = api.as_("service:notify", "secondlook-services", "contact-reader")
    await stub.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=_specialist()), metadata=admin)

    error = await _refused(stub.GetSpecialistContact(_ask(specialist_id="", purpose="", channels=["email", "fax"]),
                                                     metadata=notify))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _fields(error) == ["specialist_id", "purpose", "channels[1]"]
    error = await _refused(stub.GetSpecialistContact(_ask(purpose="x" * 101), metadata=notify))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _fields(error) == ["purpose"]
    error = await _refused(stub.GetSpecialistContact(_ask(channels=["EMAIL"]), metadata=notify))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _fields(error) == ["channels[0]"]

    error = await _refused(stub.GetSpecialistContact(_ask(specialist_id="nobody"), metadata=notify))
    assert error.code() == grpc.StatusCode.NOT_FOUND and "specialist_id" in error.details()
    await stub.DeactivateSpecialist(matching_pb2.DeactivateSpecialistRequest(specialist_id="rev-1"), metadata=admin)
    error = await _refused(stub.GetSpecialistContact(_ask(), metadata=notify))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert await auditlog.tenants(api.store.db) == []


async def test_an_upsert_with_a_bad_contact_detail_is_refused_naming_it_and_nothing_is_written(matching):
    api, stub = matching
    admin = api.as_("admin@example.org", "secondlook-operations", "directory-admin")
    error = await _refused(stub.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(
        specialist=_specialist(email="dr.kit@", phone="555 2671", notice_language="xx-!!")), metadata=admin))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _fields(error) == ["specialist.email", "specialist.phone", "specialist.notice_language"]
    error = await _refused(stub.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id="rev-1"),
                                              metadata=admin))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert await api.store.db[OUTBOX].count_documents({}) == 0

    csv = ("specialist_id,npi,specialties,licences,languages,capacity,email\n"
           "rev-2,1234567893,207RX0202X,US-CA|2099-01-01,en,2,not-an-address\n")
    error = await _refused(stub.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(csv=csv), metadata=admin))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _fields(error) == ["rows[2].email"]
    imported = await stub.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(
        csv=csv.replace("not-an-address", EMAIL)), metadata=admin)
    assert imported.created == 1
    got = await stub.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id="rev-2"), metadata=admin)
    assert got.email == EMAIL

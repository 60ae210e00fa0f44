"""E-mail notices against the real store and a real SMTP server (aiosmtpd): the
patient and the referring physician each get one message with a plain-text and
an HTML part, a relay that refuses at first is tried again, a recipient without
an address is skipped, and intake being away is a failed attempt, not a lost
notice. A message sent within the handler's wait is written once, with its
outcome; one that outlasts it is written claimed and its outcome recorded when
it ends; a write that fails does not send the notice again. (The contacts come
from a stand-in here; the e2e tests read them from intake.)"""

from __future__ import annotations

import asyncio
import select
import ssl
from email.message import EmailMessage

import pytest
import trustme
from pymongo.errors import AutoReconnect

from devstack.smtpsink import SmtpSink
from secondlook.clock import Clock
from secondlook.events import new_event
from secondlook.serviceclient import ServiceUnavailable
from secondlook.store import Store
from secondlook.unitofwork import transactor
from secondlook.v1 import case_pb2, events_pb2, intake_pb2
from services.notify import dispatcher as dispatcher_module
from services.notify import repository, usecases
from services.notify.dispatcher import Dispatcher, PeopleChannels
from services.notify.domain.deliveries import DELIVERED, SENDING, SKIPPED
from services.notify.mailer import SmtpMailer
from services.notify.repository import (
    CachedEndpoints,
    MongoDeliveries,
    MongoDeliveryQueue,
    MongoEndpoints,
    NotifyUnitOfWork,
)
from services.notify.templating import Templates
from tests.conftest import eventually

pytestmark = pytest.mark.integration


class Book:
    """intake's contacts, as GetContacts would give them."""

    def __init__(self):
        self.contacts = intake_pb2.Contacts(
            case_id="c1", tenant_id="t1", urgency=case_pb2.URGENCY_STANDARD,
            patient=intake_pb2.Contact(email="ada@example.org", language="es-MX"),
            physician=intake_pb2.Contact(email="dr.who@example.org"))
        self.away = 0  # calls to answer "unavailable"
        self.asked: list[str] = []
        self.answering = asyncio.Event()  # cleared: reads wait until it is set (a slow intake) ...
        self.answering.set()
        self.waiting_from = 0  # ... from this read on (the first is 0)

    async def of_case(self, case_id, purpose, channels):
        self.asked.append(purpose)
        if len(self.asked) > self.waiting_from:
            await self.answering.wait()
        if self.away:
            self.away -= 1
            raise ServiceUnavailable("UNAVAILABLE")
        return self.contacts


@pytest.fixture
async def notify(infra_settings):
    sink = SmtpSink().start()
    settings = infra_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port,
                                                 "smtp_starttls": False})
    store = Store(settings, "notify")
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)
    book = Book()
    email = PeopleChannels(contacts=book, templates=Templates(), mailer=SmtpMailer(settings), sms=None,
                           sender="secondlook <notices@example.org>", portal_url="https://portal.example.org")
    endpoints = CachedEndpoints(MongoEndpoints(store.db, cipher=None), ttl_seconds=60)
    dispatcher = Dispatcher(transactor(store, lambda uow: NotifyUnitOfWork(uow, cipher=None)),
                            MongoDeliveryQueue(store.db), endpoints, Clock(), timeout=5, max_attempts=4,
                            allow_insecure_targets=True, retry_base_seconds=0.1, people=email)
    task = asyncio.create_task(dispatcher.run())
    yield store, sink, book, dispatcher, endpoints
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    sink.stop()
    await store.client.drop_database(store.db.name)
    await store.close()


async def _notice(store, endpoints, dispatcher, event, deliveries=None):
    return await usecases.record_notices(deliveries or MongoDeliveries(store.db), endpoints, [event], Clock(),
                                         dispatcher.send_now, dispatcher.fresh_lease_seconds,
                                         channels=frozenset({"email"}), people=dispatcher)


def _opinion(case_id="c1"):
    return new_event(events_pb2.OpinionSubmitted(assignment_id="a", specialist_id="s", opinion_id="o"),
                     case_id=case_id, tenant_id="t1", producer="review")


async def _deliveries(store, channel="email") -> dict:
    return {d["recipient"]: d for d in await store.db[repository.DELIVERIES].find({"channel": channel}).to_list()}


async def test_the_patient_and_the_physician_each_get_one_message_in_their_language(notify, monkeypatch):
    store, sink, book, dispatcher, endpoints = notify
    monkeypatch.setattr(dispatcher_module, "SETTLE_SECONDS", 30)  # however loaded the machine
    event = _opinion()
    assert await _notice(store, endpoints, dispatcher, event) == [True]
    # Sent within the handler's wait: written once, with the outcome (no update ever sets a token).
    written = await _all(store, DELIVERED, 2)
    assert written and not any("outcome_token" in d or "lease_until" in d for d in written)
    assert await _notice(store, endpoints, dispatcher, event) == [False]  # redelivered: nothing more
    await eventually(lambda: asyncio.sleep(0, result=len(sink.delivered()) >= 2), 20, "two e-mails")
    by_rcpt = {m["To"]: m for m in sink.delivered()}
    assert set(by_rcpt) == {"ada@example.org", "dr.who@example.org"}
    patient = by_rcpt["ada@example.org"]
    assert patient["Content-Language"] == "es" and "segunda opinión" in str(patient["Subject"])
    assert [p.get_content_type() for p in patient.walk()][1:] == ["text/plain", "text/html"]
    assert str(patient["Message-ID"]).strip() == f"<{event.event_id}.patient.email@notify.secondlook>"
    assert by_rcpt["dr.who@example.org"]["Content-Language"] == "en"  # no language known: English
    done = await eventually(lambda: _all(store, DELIVERED, 2), 10, "both recorded delivered")
    assert {d["recipient"]: d["log"][-1]["status_code"] for d in done} == {"patient": 250, "physician": 250}
    assert book.asked == [f"case.opinion_ready notice {event.event_id}"] * 2  # (intake's adapter: one read)
    # Nothing of the address is kept with the delivery.
    assert "example.org" not in str(await store.db[repository.DELIVERIES].find({"channel": "email"}).to_list())
    assert len(sink.delivered()) == 2


async def test_a_refusing_relay_and_an_absent_intake_are_tried_again_and_no_address_is_skipped(notify):
    store, sink, book, dispatcher, endpoints = notify
    book.contacts.physician.email = ""  # nobody to tell
    book.away = 1  # intake away for the first read
    sink.refuse_with = "451 4.3.0 try again later"
    asked = new_event(events_pb2.InfoRequested(assignment_id="a", request_id="r", question_count=1),
                      case_id="c2", tenant_id="t1", producer="review")
    await _notice(store, endpoints, dispatcher, asked)
    await _notice(store, endpoints, dispatcher, _opinion("c3"))
    await eventually(lambda: asyncio.sleep(0, result=sink.refused >= 2), 20, "the relay refusing twice")
    sink.refuse_with = ""
    await eventually(lambda: asyncio.sleep(0, result=len(sink.delivered()) == 2), 20,
                     "the patient's two e-mails once the relay takes them")
    # The relay has them a moment before notify records it.
    await eventually(lambda: _all(store, DELIVERED, 2), 10, "both patient e-mails recorded delivered")
    emails = await store.db[repository.DELIVERIES].find({"channel": "email"}).to_list()
    by_case = {(d["case_id"], d["recipient"]): d for d in emails}
    skipped = by_case[("c3", "physician")]
    assert skipped["status"] == SKIPPED and skipped["last_error"] == "the physician has no e-mail address on the case"
    logs = [[(a["outcome"], a["status_code"], a["error"]) for a in by_case[(c, "patient")]["log"]] for c in ("c2", "c3")]
    assert all(log[-1] == ("delivered", 250, "") for log in logs)
    outcomes = [entry for log in logs for entry in log[:-1]]
    assert ("failed", 451, "relay answered 451") in outcomes
    assert ("failed", 0, "contact details not readable now (intake or matching unavailable)") in outcomes


async def test_a_send_that_outlasts_the_wait_is_written_claimed_and_recorded_when_it_ends(notify, monkeypatch):
    store, sink, book, dispatcher, endpoints = notify
    monkeypatch.setattr(dispatcher_module, "SETTLE_SECONDS", 0.05)
    book.answering.clear()  # intake is slow to answer
    assert await _notice(store, endpoints, dispatcher, _opinion("c4")) == [True]
    claimed = await store.db[repository.DELIVERIES].find({"channel": "email"}).to_list()
    assert {(d["recipient"], d["status"], d["attempts"]) for d in claimed} == \
        {("patient", SENDING, 1), ("physician", SENDING, 1)}
    assert not sink.delivered()
    book.answering.set()
    done = await eventually(lambda: _all(store, DELIVERED, 2), 20, "both recorded delivered once sent")
    assert all("outcome_token" in d and d["log"][-1]["outcome"] == "delivered" for d in done)  # by an update
    assert len(sink.delivered()) == 2


class FailingOnce(MongoDeliveries):
    """The first write of the notices to people fails: refused, or (`lands`) done but
    its answer lost."""

    def __init__(self, db, lands=False):
        super().__init__(db)
        self.failed, self.lands = False, lands

    async def add_many(self, deliveries):
        if not self.failed and any(d.channel == "email" for d in deliveries):
            self.failed = True
            if self.lands:
                await super().add_many(deliveries)
            raise AutoReconnect("the store went away")
        return await super().add_many(deliveries)


async def test_a_write_that_failed_after_the_send_does_not_send_again_when_the_event_is_retried(notify, monkeypatch):
    store, sink, book, dispatcher, endpoints = notify
    monkeypatch.setattr(dispatcher_module, "SETTLE_SECONDS", 30)
    failing, event = FailingOnce(store.db), _opinion("c5")
    with pytest.raises(AutoReconnect):
        await _notice(store, endpoints, dispatcher, event, deliveries=failing)
    assert await _notice(store, endpoints, dispatcher, event, deliveries=failing) == [True]  # the consumer's retry
    assert await _all(store, DELIVERED, 2)
    assert len(sink.delivered()) == 2 and book.asked == [f"case.opinion_ready notice {event.event_id}"] * 2


async def test_a_claimed_write_that_landed_unanswered_is_recorded_when_the_send_ends(notify, monkeypatch):
    store, sink, book, dispatcher, endpoints = notify
    monkeypatch.setattr(dispatcher_module, "SETTLE_SECONDS", 0.05)
    book.answering.clear()
    failing, event = FailingOnce(store.db, lands=True), _opinion("c6")
    with pytest.raises(AutoReconnect):
        await _notice(store, endpoints, dispatcher, event, deliveries=failing)
    # The retry finds them written claimed: their sends, still under way, are recorded when they end.
    assert await _notice(store, endpoints, dispatcher, event, deliveries=failing) == [False]
    book.answering.set()
    done = await eventually(lambda: _all(store, DELIVERED, 2), 20, "both recorded delivered once sent")
    assert all(d["log"][-1]["outcome"] == "delivered" for d in done) and len(sink.delivered()) == 2


async def test_a_handler_stopped_mid_send_writes_what_was_sent_before_it_gives_up_its_event(notify, monkeypatch):
    store, sink, book, dispatcher, endpoints = notify
    monkeypatch.setattr(dispatcher_module, "SETTLE_SECONDS", 30)
    book.answering.clear()
    book.waiting_from = 1  # the first read (the patient's: sorted by recipient) is answered at once
    handler = asyncio.create_task(_notice(store, endpoints, dispatcher, _opinion("c7")))
    await eventually(lambda: asyncio.sleep(0, result=len(sink.delivered()) == 1 and len(book.asked) == 2), 20,
                     "one e-mail out, the other waiting for intake")
    handler.cancel()  # the service stopping
    with pytest.raises(asyncio.CancelledError):
        await handler
    written = {d["recipient"]: d["status"] for d in await store.db[repository.DELIVERIES].find(
        {"case_id": "c7", "channel": "email"}).to_list()}
    assert written == {"patient": DELIVERED, "physician": SENDING}  # the sent one is not sent again on restart
    book.answering.set()
    await eventually(lambda: _all(store, DELIVERED, 2), 20, "the physician's recorded once sent")


async def _all(store, status, n):
    found = await store.db[repository.DELIVERIES].find({"channel": "email", "status": status}).to_list()
    return found if len(found) == n else None


# --- the SMTP adapter alone ---------------------------------------------------------
def _message(n: int) -> EmailMessage:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = f"notice {n}", "notices@example.org", "ada@example.org"
    message.set_content(f"body {n}")
    return message


def _mailer(infra_settings, sink) -> SmtpMailer:
    return SmtpMailer(infra_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port,
                                                        "smtp_starttls": False}))


async def test_messages_share_a_kept_connection_and_one_the_relay_dropped_is_replaced(infra_settings):
    sink = SmtpSink(idle_timeout=2).start()
    mailer = _mailer(infra_settings, sink)
    try:
        # One at a time, as notify's worker threads take them: one connection for all.
        for n in range(5):
            assert await mailer.send(_message(n)) == (250, "")
        assert len(sink.delivered()) == 5 and len(set(sink.peers)) == mailer.connections_opened == 1
        # The relay closes the idle connection (aiosmtpd's timeout) ...
        [kept] = mailer._idle
        await eventually(lambda: asyncio.sleep(0, result=_readable(kept.smtp.sock)), 10,
                         "the relay closing its idle client")
        # ... and the next message goes on a fresh one (NOOP found the drop), not failed.
        assert await mailer.send(_message(5)) == (250, "")
        assert len(sink.delivered()) == 6 and mailer.connections_opened == 2 and len(set(sink.peers)) == 2
        [kept] = mailer._idle
    finally:
        await mailer.aclose()
        sink.stop()
    assert kept.smtp.sock is None  # closed at shutdown


async def test_a_relay_answering_421_fails_the_attempt_and_the_next_message_reconnects(infra_settings):
    sink = SmtpSink().start()
    mailer = _mailer(infra_settings, sink)
    try:
        assert await mailer.send(_message(0)) == (250, "")
        sink.refuse_with = "421 4.3.2 shutting down"
        assert await mailer.send(_message(1)) == (421, "relay answered 421")  # sent once, not again at once
        assert sink.refused == 1 and not mailer._idle  # the relay is closing it: not kept
        sink.refuse_with = "451 4.3.0 try again later"  # a refusal of one message: the connection stays
        assert await mailer.send(_message(2)) == (451, "relay answered 451")
        sink.refuse_with = ""
        assert await mailer.send(_message(3)) == (250, "")
        assert mailer.connections_opened == 2 and [str(m["Subject"]) for m in sink.delivered()] == [
            "notice 0", "notice 3"]
    finally:
        await mailer.aclose()
        sink.stop()


def _readable(sock) -> bool:
    return sock is None or bool(select.select([sock], [], [], 0)[0])


@pytest.mark.parametrize("mode, port_465", [("implicit", True), ("implicit", False), ("starttls", False)])
async def test_the_relay_is_reached_over_tls_from_the_first_byte_or_after_starttls(infra_settings, tmp_path,
                                                                                    monkeypatch, mode, port_465):
    """Port 465 is TLS from the first byte (RFC 8314), on by itself there or set by
    SECONDLOOK_SMTP_IMPLICIT_TLS elsewhere; otherwise STARTTLS. The relay's certificate
    is checked against the machine's CAs (here a test CA, by OpenSSL's SSL_CERT_FILE)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    sink = SmtpSink(tls=(mode, server)).start()
    settings = {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_starttls": mode == "starttls"}
    if port_465:  # the rule, without binding the privileged port: the mailer reads it as 465 ...
        mailer = SmtpMailer(infra_settings.model_copy(update={**settings, "smtp_port": 465}))
        mailer._port = sink.port  # ... and connects to the sink's
    else:
        mailer = SmtpMailer(infra_settings.model_copy(update={
            **settings, "smtp_implicit_tls": mode == "implicit"}))
    try:
        untrusted = await mailer.send(_message(0))  # the test CA is not trusted yet: no message leaves
        assert untrusted[0] is None and "SSL" in untrusted[1] and sink.delivered() == []
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        assert await mailer.send(_message(1)) == (250, "")
        assert await mailer.send(_message(2)) == (250, "")
        assert [str(m["Subject"]) for m in sink.delivered()] == ["notice 1", "notice 2"]
        assert mailer.connections_opened == 1  # the TLS connection is kept for the next message
    finally:
        await mailer.aclose()
        sink.stop()


def test_a_password_never_goes_to_the_relay_in_clear(infra_settings):
    clear = {"smtp_host": "relay.example.org", "smtp_username": "notices", "smtp_starttls": False}
    with pytest.raises(ValueError, match="SECONDLOOK_SMTP_IMPLICIT_TLS"):
        SmtpMailer(infra_settings.model_copy(update={**clear, "smtp_port": 587}))
    with pytest.raises(ValueError):
        SmtpMailer(infra_settings.model_copy(update={**clear, "smtp_port": 465, "smtp_implicit_tls": False}))
    SmtpMailer(infra_settings.model_copy(update={**clear, "smtp_port": 465}))  # TLS from the first byte
    SmtpMailer(infra_settings.model_copy(update={**clear, "smtp_port": 2525, "smtp_implicit_tls": True}))

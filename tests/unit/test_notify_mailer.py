"""notify's SMTP adapter with a plain fake of smtplib's client: what a refusal does
to the kept connection, and that a refused login is no verdict on the message."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from secondlook.settings import Settings
from services.notify import mailer as mailer_module
from services.notify.mailer import SmtpMailer


class _Socket:
    def settimeout(self, seconds):
        pass


class FakeSmtp:
    """One connection: each send_message and rset pops its scripted outcome."""

    opened: list[FakeSmtp] = []
    script: dict[str, list] = {}

    def __init__(self, host, port, timeout):
        self.sock = _Socket()
        self.calls: list[str] = []
        FakeSmtp.opened.append(self)

    def _next(self, name: str):
        self.calls.append(name)
        outcome = FakeSmtp.script[name].pop(0) if FakeSmtp.script.get(name) else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def starttls(self, context=None):
        self._next("starttls")

    def login(self, user, password):
        self._next("login")

    def send_message(self, message):
        self._next("send_message")
        return {}

    def rset(self):
        return self._next("rset") or (250, b"OK")

    def noop(self):
        return (250, b"OK")

    def quit(self):
        self.calls.append("quit")

    def close(self):
        self.sock = None


@pytest.fixture
def fake_smtp(monkeypatch):
    FakeSmtp.opened, FakeSmtp.script = [], {}
    monkeypatch.setattr(mailer_module.smtplib, "SMTP", FakeSmtp)
    return FakeSmtp


def _mailer(**settings) -> SmtpMailer:
    return SmtpMailer(Settings(smtp_host="relay.example", **settings))


def _message() -> EmailMessage:
    message = EmailMessage()
    message["To"], message["From"], message["Subject"] = "ada@example.org", "n@example.org", "s"
    message.set_content("body")
    return message


async def test_a_connection_is_kept_after_a_refusal_only_once_rset_cleared_it(fake_smtp):
    mailer = _mailer(smtp_starttls=False)
    # Refused at the DATA command: smtplib sends no RSET itself, the relay still holds
    # the sender and recipients. RSET clears it and the next message reuses it.
    fake_smtp.script = {"send_message": [smtplib.SMTPDataError(451, b"greylisted")]}
    assert await mailer.send(_message()) == (451, "relay answered 451")
    assert await mailer.send(_message()) == (250, "")
    [connection] = fake_smtp.opened
    assert connection.calls == ["send_message", "rset", "send_message"]
    # Refused, and RSET finds the connection gone: closed, the next message opens another.
    fake_smtp.script = {"send_message": [smtplib.SMTPDataError(554, b"no")],
                        "rset": [smtplib.SMTPServerDisconnected("gone")]}
    assert await mailer.send(_message()) == (554, "relay answered 554")
    assert connection.sock is None and not mailer._idle
    assert await mailer.send(_message()) == (250, "") and len(fake_smtp.opened) == 2
    await mailer.aclose()


async def test_a_refused_login_is_a_failed_attempt_not_a_refusal_of_the_message(fake_smtp):
    mailer = _mailer(smtp_starttls=True, smtp_username="notify", smtp_password="secret")
    fake_smtp.script = {"login": [smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials")]}
    # None: the dispatcher retries it (a 5xx reply code would end the notice SKIPPED).
    assert await mailer.send(_message()) == (None, "SMTP session refused: 535")
    assert fake_smtp.opened[0].sock is None and not mailer._idle
    assert await mailer.send(_message()) == (250, "")  # the credentials fixed: sent
    await mailer.aclose()

"""The e-mail adapter: messages over SMTP (TLS from the first byte on port 465, else
STARTTLS, and authentication, by settings),
sent from worker threads so the event loop never waits on the relay.

Connections stay open between messages, for the next one: a case sends its
patient, physician and reviewer several e-mails, and a connection for each cost a
TCP connect, the greeting, EHLO, STARTTLS, AUTH and QUIT, more round trips than the
message itself. A connection idle for `IDLE_SECONDS`, or that has carried
`MESSAGES_PER_CONNECTION`, is closed instead of reused (relays close idle clients
and cap messages per connection); one idle for `PROBE_AFTER_SECONDS` is asked NOOP
first and replaced if the relay dropped it meanwhile. A message is sent once: a
connection that fails during it is closed and the attempt fails (retried later, like
any failed attempt), never sent again at once on another. After a refusal a
connection is reused only once RSET has cleared it. The outcome is the relay's reply
code (250 once it took the message) or why there was none.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

from secondlook.logging import get_logger
from secondlook.settings import Settings

log = get_logger(__name__)

IDLE_SECONDS = 20.0  # under the shortest idle timeout common relays apply (Postfix: 300 s, Exchange: 60 s)
PROBE_AFTER_SECONDS = 1.0  # idle this long: NOOP before the next message (a drop is found before it, not in it)
MESSAGES_PER_CONNECTION = 100
WORKERS = 8


class _Kept:
    """An open connection and what it has carried."""

    def __init__(self, smtp: smtplib.SMTP):
        self.smtp = smtp
        self.sent = 0
        self.used_at = time.monotonic()

    def idle(self) -> float:
        return time.monotonic() - self.used_at

    def fresh_enough(self) -> bool:
        return self.sent < MESSAGES_PER_CONNECTION and self.idle() < IDLE_SECONDS


class SmtpMailer:
    def __init__(self, settings: Settings):
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        # Port 465 is submission over TLS from the first byte (RFC 8314); STARTTLS there
        # would wait for a greeting the relay never sends in clear.
        implicit = settings.smtp_implicit_tls
        self._implicit_tls = settings.smtp_port == 465 if implicit is None else implicit
        self._starttls = settings.smtp_starttls and not self._implicit_tls
        self._username = settings.smtp_username
        self._password = settings.smtp_password.get_secret_value()
        self._timeout = settings.smtp_timeout_seconds
        if self._username and not (self._starttls or self._implicit_tls):
            raise ValueError("SECONDLOOK_SMTP_USERNAME is set with SECONDLOOK_SMTP_STARTTLS=false and no "
                             "SECONDLOOK_SMTP_IMPLICIT_TLS: the password would cross the network in clear")
        # Its own threads: a slow relay must not hold the default pool (aiohttp resolves names there).
        self._threads = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="smtp")
        self._lock = threading.Lock()
        self._idle: list[_Kept] = []  # open and between messages, the last used last
        self._closed = False
        self.connections_opened = 0

    @property
    def enabled(self) -> bool:
        return bool(self._host)

    async def send(self, message: EmailMessage) -> tuple[int | None, str]:
        """(the relay's reply code, "") once it took the message, (code, reply) when it
        refused it, or (None, why it could not be asked)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._send, message)

    async def aclose(self) -> None:
        """QUIT on the idle connections, at shutdown (a relay also copes with none);
        a connection still carrying a message is closed when it is done."""
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        await asyncio.to_thread(lambda: [_close(k, quit_within=1.0) for k in idle])
        self._threads.shutdown(wait=False)

    def _send(self, message: EmailMessage) -> tuple[int | None, str]:
        kept = None
        try:
            kept = self._take() or self._connect()
            kept.sent += 1
            refused = kept.smtp.send_message(message)  # raises when every recipient is refused
            if refused:  # some of several (operations' addresses): the others have it, sent again it repeats
                log.warning("email_recipients_refused", refused=len(refused),
                            codes=sorted({code for code, _ in refused.values()}))
            return 250, ""
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPConnectError, smtplib.SMTPHeloError) as exc:
            # The relay would not let us in (a login refused: rotated credentials?): no
            # verdict on the message, which is tried again like any failed attempt.
            kept = _close(kept)
            return None, f"SMTP session refused: {exc.smtp_code}"
        except smtplib.SMTPResponseException as exc:
            kept = _cleared(kept)
            return exc.smtp_code, f"relay answered {exc.smtp_code}"
        except smtplib.SMTPRecipientsRefused as exc:
            kept = _cleared(kept)
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else None
            return code, f"relay refused the recipient: {code}"
        except (smtplib.SMTPException, OSError) as exc:
            kept = _close(kept)
            return None, f"SMTP failed: {exc.__class__.__name__}"
        except BaseException:  # the conversation is in an unknown state: not for the next message
            kept = _close(kept)
            raise
        finally:
            if kept is not None:
                self._give(kept)

    def _take(self) -> _Kept | None:
        """The connection used last, if still fresh enough and, after a pause, still
        there (NOOP); the others idle longer are closed."""
        with self._lock:
            kept = self._idle.pop() if self._idle else None
            stale = [k for k in self._idle if not k.fresh_enough()]
            self._idle = [k for k in self._idle if k.fresh_enough()]
        if kept is not None and not kept.fresh_enough():
            stale.append(kept)
            kept = None
        for k in stale:  # no QUIT: a relay that silently dropped it would hold this message up
            _close(k)
        if kept is not None and kept.idle() >= PROBE_AFTER_SECONDS:
            try:
                code, _ = kept.smtp.noop()
            except (smtplib.SMTPException, OSError):
                code = None
            if code != 250:
                kept = _close(kept)
        return kept

    def _give(self, kept: _Kept) -> None:
        kept.used_at = time.monotonic()
        with self._lock:
            if not self._closed:
                self._idle.append(kept)
                return
        _close(kept, quit_within=1.0)

    def _connect(self) -> _Kept:
        if self._implicit_tls:
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        try:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username:
                smtp.login(self._username, self._password)
        except BaseException:
            smtp.close()
            raise
        with self._lock:
            self.connections_opened += 1
        return _Kept(smtp)


def _cleared(kept: _Kept | None) -> _Kept | None:
    """The connection after a refusal, if RSET leaves it ready for another message
    (a refusal of the DATA command leaves the relay holding the sender and
    recipients); else closed, None."""
    if kept is None or kept.smtp.sock is None:  # smtplib closed it (a 421)
        return _close(kept)
    try:
        code, _ = kept.smtp.rset()
    except (smtplib.SMTPException, OSError):
        code = None
    return kept if code == 250 else _close(kept)


def _close(kept: _Kept | None, quit_within: float = 0.0) -> None:  # None: for `kept = _close(kept)`
    """Ends a connection, with a QUIT answered within `quit_within` seconds when that
    is more than 0 (at shutdown); a failed or dropped one is just closed."""
    if kept is not None:
        if quit_within > 0 and kept.smtp.sock is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                kept.smtp.sock.settimeout(quit_within)
                kept.smtp.quit()
        kept.smtp.close()

"""The e-mail adapter: messages over SMTP (STARTTLS and authentication by settings),
sent from worker threads so the event loop never waits on the relay.

Connections stay open between messages, for the next one: a case sends its
patient, physician and reviewer several e-mails, and a connection for each cost a
TCP connect, the greeting, EHLO, STARTTLS, AUTH and QUIT, more round trips than the
message itself. A connection idle for `IDLE_SECONDS`, or that has
carried `MESSAGES_PER_CONNECTION`, is closed and a fresh one opened (relays close
idle clients and cap messages per connection). A kept connection the relay has
dropped meanwhile fails at its first command: that message goes once more on a
fresh connection. The outcome is the relay's reply code (250 once it took the
message) or why there was none.
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
MESSAGES_PER_CONNECTION = 100
WORKERS = 8


class _Kept:
    """An open connection and what it has carried."""

    def __init__(self, smtp: smtplib.SMTP):
        self.smtp = smtp
        self.sent = 0
        self.used_at = time.monotonic()

    def fresh_enough(self) -> bool:
        return self.sent < MESSAGES_PER_CONNECTION and time.monotonic() - self.used_at < IDLE_SECONDS


class SmtpMailer:
    def __init__(self, settings: Settings):
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._starttls = settings.smtp_starttls
        self._username = settings.smtp_username
        self._password = settings.smtp_password.get_secret_value()
        self._timeout = settings.smtp_timeout_seconds
        if self._username and not self._starttls:
            raise ValueError("SECONDLOOK_SMTP_USERNAME is set with SECONDLOOK_SMTP_STARTTLS=false: the password "
                             "would cross the network in clear")
        # Its own threads: a slow relay must not hold the default pool (aiohttp resolves names there).
        self._threads = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="smtp")
        self._lock = threading.Lock()
        self._idle: list[_Kept] = []  # open and between messages, the last used last
        self.connections_opened = 0

    @property
    def enabled(self) -> bool:
        return bool(self._host)

    async def send(self, message: EmailMessage) -> tuple[int | None, str]:
        """(the relay's reply code, "") once it took the message, (code, reply) when it
        refused it, or (None, why it could not be asked)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._send, message)

    async def aclose(self) -> None:
        """QUIT on the idle connections, at shutdown (a relay also copes with none)."""
        with self._lock:
            idle, self._idle = self._idle, []
        await asyncio.to_thread(lambda: [_quit(k) for k in idle])
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _send(self, message: EmailMessage) -> tuple[int | None, str]:
        kept = self._take()
        try:
            if kept is not None:
                try:
                    return self._over(kept, message)
                except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as exc:
                    # Dropped while kept (an idle timeout: "421 timeout", a relay restart),
                    # found at the first command: once more on a fresh connection. (Were it
                    # dropped after the relay took the message, that arrives twice under one
                    # Message-ID.)
                    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code != 421:
                        raise
                    kept = _quit(kept)
            kept = self._connect()
            return self._over(kept, message)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the relay is closing this connection
                kept = _quit(kept)
            return exc.smtp_code, f"relay answered {exc.smtp_code}"
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else None
            return code, f"relay refused the recipient: {code}"
        except (smtplib.SMTPException, OSError) as exc:
            kept = _quit(kept)
            return None, f"SMTP failed: {exc.__class__.__name__}"
        except BaseException:  # the conversation is in an unknown state: not for the next message
            kept = _quit(kept)
            raise
        finally:
            if kept is not None:
                self._give(kept)

    def _over(self, kept: _Kept, message: EmailMessage) -> tuple[int | None, str]:
        kept.sent += 1
        refused = kept.smtp.send_message(message)  # raises when every recipient is refused
        if refused:  # some of several (operations' addresses): the others have it, sent again it repeats
            log.warning("email_recipients_refused", refused=len(refused),
                        codes=sorted({code for code, _ in refused.values()}))
        return 250, ""

    def _take(self) -> _Kept | None:
        """The connection used last, if still fresh enough (the others idle longer: ended)."""
        with self._lock:
            kept = self._idle.pop() if self._idle else None
            stale = [k for k in self._idle if not k.fresh_enough()]
            self._idle = [k for k in self._idle if k.fresh_enough()]
        if kept is not None and not kept.fresh_enough():
            stale.append(kept)
            kept = None
        for k in stale:
            _quit(k)
        return kept

    def _give(self, kept: _Kept) -> None:
        kept.used_at = time.monotonic()
        with self._lock:
            self._idle.append(kept)

    def _connect(self) -> _Kept:
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


def _quit(kept: _Kept | None) -> None:  # None: for `kept = _quit(kept)`
    """Ends a connection politely (QUIT), or as it can; always None (nothing kept)."""
    if kept is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            kept.smtp.quit()
        kept.smtp.close()

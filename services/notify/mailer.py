"""The e-mail adapter: one message over SMTP (STARTTLS and authentication by
settings), sent from a worker thread so the event loop never waits on the relay.

A message goes out on its own connection: notices are few next to webhooks, and a
relay that drops idle connections then costs nothing to handle. The outcome is
the relay's reply code (250 once it took the message) or why there was none.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

from secondlook.logging import get_logger
from secondlook.settings import Settings

log = get_logger(__name__)


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
        self._threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="smtp")

    @property
    def enabled(self) -> bool:
        return bool(self._host)

    async def send(self, message: EmailMessage) -> tuple[int | None, str]:
        """(the relay's reply code, "") once it took the message, (code, reply) when it
        refused it, or (None, why it could not be asked)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._send, message)

    def _send(self, message: EmailMessage) -> tuple[int | None, str]:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password)
                refused = smtp.send_message(message)  # raises when every recipient is refused
                if refused:  # some of several (operations' addresses): the others have it, sent again it repeats
                    log.warning("email_recipients_refused", refused=len(refused),
                                codes=sorted({code for code, _ in refused.values()}))
                return 250, ""
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, f"relay answered {exc.smtp_code}"
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else None
            return code, f"relay refused the recipient: {code}"
        except (smtplib.SMTPException, OSError) as exc:
            return None, f"SMTP failed: {exc.__class__.__name__}"

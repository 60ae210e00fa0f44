"""A local SMTP server that keeps what it receives: the e-mail side of `make run`,
the benchmark and the tests (aiosmtpd, in a thread of this process).

It accepts any sender and recipient, without authentication, on 127.0.0.1 only,
in clear (notify reaches it with SECONDLOOK_SMTP_STARTTLS=false) or, for the tests,
over TLS with a certificate given (`tls`: from the first byte or after STARTTLS). Messages
are kept in memory, parsed when read, and appended to a file when one is given (for a
developer to read); nothing leaves the machine.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from devstack.stack import free_port


class _Keep:
    def __init__(self, sink: SmtpSink):
        self._sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self._sink.refuse_with:
            self._sink.refused += 1
            return self._sink.refuse_with
        self._sink.keep(list(envelope.rcpt_tos), envelope.content, session.peer)
        return "250 OK"


class SmtpSink:
    def __init__(self, log_file: Path | None = None, idle_timeout: float = 300.0,
                 tls: tuple[str, ssl.SSLContext] | None = None):
        self.messages: list[EmailMessage] = []  # parsed when asked for (delivered()): the bench only counts
        self.recipients: list[list[str]] = []
        self.raw: list[bytes] = []
        self.peers: list[tuple] = []  # each message's client address: one per connection it came over
        self.idle_timeout = idle_timeout  # seconds before an idle client is disconnected, as relays do
        # An SMTP reply such as "451 4.3.0 try later" to play a relay that refuses (tests of retries).
        self.refuse_with = ""
        self.refused = 0
        self.log_file = log_file
        self.tls = tls  # ("implicit" or "starttls", the server's context); None: in clear
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.port = 0

    def keep(self, recipients: list[str], raw: bytes, peer: tuple = ()) -> None:
        with self._lock:
            self.peers.append(peer)
            self.recipients.append(recipients)
            self.raw.append(raw)
            if self.log_file is not None:
                with self.log_file.open("ab") as f:
                    f.write(raw + b"\n\n")

    def start(self) -> SmtpSink:
        self.port = free_port()
        mode, context = self.tls or ("", None)
        tls = {"ssl_context": context} if mode == "implicit" else \
            {"tls_context": context, "require_starttls": True} if mode == "starttls" else {}
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port,
                                      timeout=self.idle_timeout, **tls)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def overrides(self) -> dict[str, str]:
        """The settings that point notify at this sink."""
        return {"SECONDLOOK_SMTP_HOST": "127.0.0.1", "SECONDLOOK_SMTP_PORT": str(self.port),
                "SECONDLOOK_SMTP_STARTTLS": "false"}

    def delivered(self) -> list[EmailMessage]:
        """Messages accepted, in order."""
        with self._lock:
            for raw in self.raw[len(self.messages):]:
                self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
            return list(self.messages)

    def count(self) -> int:
        """How many messages were accepted (none parsed)."""
        with self._lock:
            return len(self.raw)

    def for_delivery(self, delivery_prefix: str) -> list[EmailMessage]:
        return [m for m in self.delivered() if str(m["X-Secondlook-Delivery"] or "").startswith(delivery_prefix)]

    @staticmethod
    def body(message: EmailMessage) -> str:
        """Every part's text, decoded."""
        return "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")

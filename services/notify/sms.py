"""The text-message adapters: one interface (`send`), a development adapter that
appends each message to a file, and Twilio's Messages API, chosen by settings
(SECONDLOOK_SMS_PROVIDER).

A text carries what an e-mail does, shorter: that something is ready or needed and
where to sign in. Its id comes from the delivery; Twilio has no idempotency key for
sending, so a send retried after a lost answer may reach the phone twice (the
same words, a repeat).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import aiohttp

from secondlook.settings import Settings

from .domain.notices import SmsText


class SmsSender(Protocol):
    async def send(self, text: SmsText) -> tuple[int | None, str]: ...


class FileSms:
    """Development: each message as one JSON line in a file; nothing leaves the machine."""

    def __init__(self, path: Path, sender: str):
        self._path = path
        self._sender = sender
        self._lock = asyncio.Lock()

    async def send(self, text: SmsText) -> tuple[int | None, str]:
        line = json.dumps({"id": text.message_id, "from": self._sender, "to": text.to, "body": text.body,
                           "at": datetime.now(timezone.utc).isoformat()}, ensure_ascii=False)
        async with self._lock:
            await asyncio.to_thread(self._append, line)
        return 200, ""

    def _append(self, line: str) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


class TwilioSms:
    """Twilio's Messages API: one POST per message, the account's credentials as HTTP
    Basic auth; 201 means Twilio took it."""

    def __init__(self, account_sid: str, auth_token: str, sender: str, api_base: str, timeout: float = 10.0):
        self._url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._authorization = aiohttp.encode_basic_auth(account_sid, auth_token)
        self._sender = sender
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, text: SmsText) -> tuple[int | None, str]:
        sender = {"MessagingServiceSid": self._sender} if self._sender.startswith("MG") else {"From": self._sender}
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as http, http.post(
                    self._url, headers={"Authorization": self._authorization},
                    data={"To": text.to, "Body": text.body, **sender},
                    allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return response.status, ""
                return response.status, f"Twilio answered HTTP {response.status}" + await _error_code(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"Twilio not reached: {exc.__class__.__name__}"


async def _error_code(response: aiohttp.ClientResponse) -> str:
    """Twilio's error code (e.g. 21211, an invalid number), never its message: that
    may repeat the number."""
    try:
        code = (await response.json(content_type=None)).get("code")
    except Exception:
        return ""
    return f" (error {int(code)})" if isinstance(code, int) else ""


def sms_sender(settings: Settings) -> SmsSender | None:
    """The adapter the settings name; None when text messages are off."""
    if settings.sms_provider == "file":
        if settings.sms_file is None:
            raise ValueError("SECONDLOOK_SMS_FILE is required with SECONDLOOK_SMS_PROVIDER=file")
        return FileSms(settings.sms_file, settings.sms_from or "secondlook")
    if settings.sms_provider == "twilio":
        missing = [name for name, value in (("SECONDLOOK_TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                                            ("SECONDLOOK_TWILIO_AUTH_TOKEN",
                                             settings.twilio_auth_token.get_secret_value()),
                                            ("SECONDLOOK_SMS_FROM", settings.sms_from)) if not value]
        if missing:
            raise ValueError(f"SECONDLOOK_SMS_PROVIDER=twilio needs {', '.join(missing)}")
        return TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                         settings.sms_from, settings.twilio_api_base)
    return None

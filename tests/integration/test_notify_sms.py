"""The text-message adapters: the development file, and Twilio's Messages API as a
real HTTP exchange with a stand-in server that checks what Twilio checks (the
account path, Basic auth, the form fields)."""

from __future__ import annotations

import base64
import json

import pytest
from aiohttp import web

from secondlook.settings import Settings
from services.notify.domain.notices import SmsText
from services.notify.sms import FileSms, TwilioSms, sms_sender

pytestmark = pytest.mark.integration

TEXT = SmsText(to="+14155550123", body="secondlook: your second opinion is ready.", message_id="e1:patient:sms")


async def test_the_file_adapter_appends_one_json_line_per_message(tmp_path):
    sms = FileSms(tmp_path / "sms.jsonl", "+15005550006")
    assert await sms.send(TEXT) == (200, "")
    assert await sms.send(TEXT) == (200, "")
    lines = [json.loads(line) for line in (tmp_path / "sms.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["to"] == TEXT.to and lines[0]["body"] == TEXT.body
    assert lines[0]["id"] == "e1:patient:sms" and lines[0]["from"] == "+15005550006"


@pytest.fixture
async def twilio():
    """A stand-in for api.twilio.com: 201 for a well-formed request, 401 or 400 otherwise,
    or `answer_with` when a test sets it."""
    seen: list[dict] = []
    state = {"answer_with": 0}

    async def messages(request: web.Request) -> web.Response:
        form = dict(await request.post())
        user, _, password = base64.b64decode(request.headers.get("Authorization", "Basic ")[6:]).decode().partition(":")
        seen.append({"sid": request.match_info["sid"], "user": user, "password": password, **form})
        if state["answer_with"]:
            return web.json_response({"message": "down"}, status=state["answer_with"])
        if (user, password) != ("AC123", "token-xyz"):
            return web.json_response({"code": 20003}, status=401)
        if not form.get("To") or not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return web.json_response({"code": 21604}, status=400)
        return web.json_response({"sid": "SM1", "status": "queued"}, status=201)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen, state
    await runner.cleanup()


async def test_twilio_gets_the_message_with_the_accounts_credentials(twilio):
    base, seen, state = twilio
    assert await TwilioSms("AC123", "token-xyz", "+15005550006", base).send(TEXT) == (201, "")
    assert seen[-1] == {"sid": "AC123", "user": "AC123", "password": "token-xyz", "To": TEXT.to, "Body": TEXT.body,
                        "From": "+15005550006"}
    assert await TwilioSms("AC123", "token-xyz", "MG999", base).send(TEXT) == (201, "")
    assert seen[-1]["MessagingServiceSid"] == "MG999" and "From" not in seen[-1]
    assert await TwilioSms("AC123", "wrong", "+15005550006", base).send(TEXT) == (
        401, "Twilio answered HTTP 401 (error 20003)")
    state["answer_with"] = 503
    assert await TwilioSms("AC123", "token-xyz", "+15005550006", base).send(TEXT) == (503, "Twilio answered HTTP 503")
    assert (await TwilioSms("AC123", "t", "+1", "http://127.0.0.1:9").send(TEXT))[0] is None  # nobody there


def test_the_provider_comes_from_the_settings_and_names_what_is_missing(tmp_path):
    assert sms_sender(Settings()) is None
    assert isinstance(sms_sender(Settings(sms_provider="file", sms_file=tmp_path / "s")), FileSms)
    with pytest.raises(ValueError, match="SECONDLOOK_SMS_FILE"):
        sms_sender(Settings(sms_provider="file"))
    with pytest.raises(ValueError, match="SECONDLOOK_TWILIO_AUTH_TOKEN, SECONDLOOK_SMS_FROM"):
        sms_sender(Settings(sms_provider="twilio", twilio_account_sid="AC1"))
    assert isinstance(sms_sender(Settings(sms_provider="twilio", twilio_account_sid="AC1", twilio_auth_token="t",
                                          sms_from="+15005550006")), TwilioSms)

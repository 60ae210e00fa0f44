"""notify's e-mail templates: every template in every language renders, carries
none of the case's PHI whatever the case holds, autoescapes HTML, and a missing
translation falls back to English and is named by the check below."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from pathlib import Path

import pytest
from google.protobuf import timestamp_pb2

from secondlook.v1 import case_pb2, events_pb2, intake_pb2, matching_pb2
from services.notify import usecases
from services.notify.domain.deliveries import person_deliveries
from services.notify.domain.notices import (
    PARTS,
    SMS_PART,
    SMS_TEMPLATES,
    TEMPLATES,
    NoticeContext,
    SmsText,
    choose_language,
)
from services.notify.domain.routing import EMAIL, ROUTES, SMS, route_of
from services.notify.templating import DEFAULT_DIR, Templates
from tests.e2e.canaries import plant_canaries
from tests.fakes.notify import lifecycle_event, opinion_event

PORTAL = "https://portal.example.org/sign-in"


def test_every_template_has_every_translation():
    """The check `make test` runs: a template English has and another language lacks is named."""
    assert Templates().missing() == []


def test_every_notice_to_a_person_has_its_english_template():
    assert {"patient_opinion_ready", "physician_opinion_ready", "patient_needs_info", "patient_withdrawn"} \
        <= set(TEMPLATES)
    files = {p.name for p in (DEFAULT_DIR / "en").iterdir()}
    assert [f"{t}.{part}" for t in TEMPLATES for part in PARTS if f"{t}.{part}" not in files] == []
    assert [f"{t}.{SMS_PART}" for t in SMS_TEMPLATES if f"{t}.{SMS_PART}" not in files] == []


@pytest.mark.parametrize("language", sorted(Templates().languages))
@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("expedited", [False, True])
def test_every_template_renders_in_every_language(name, language, expedited):
    used, subject, text, html = Templates().render(name, language, NoticeContext(PORTAL, expedited, _facts(name)))
    assert used == language
    assert subject and "\n" not in subject and len(subject) < 120
    assert PORTAL in text and f'href="{PORTAL}"' in html and f'lang="{language}"' in html


@pytest.mark.parametrize("requested, chosen", [("es", "es"), ("es-MX", "es"), ("ES_us", "es"), ("en-US", "en"),
                                               ("fr-CA", "en"), ("", "en"), ("x-klingon", "en")])
def test_the_readers_language_else_english(requested, chosen):
    assert choose_language(requested, {"en", "es"}) == chosen


def test_html_is_autoescaped_and_text_is_not():
    _, _, text, html = Templates().render("patient_opinion_ready", "en",
                                          NoticeContext('https://x.example/"><script>alert(1)</script>', False))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>" in text  # plain text is not HTML: nothing to escape


def test_a_missing_translation_falls_back_to_english_and_is_named(tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(DEFAULT_DIR, folder, ignore=shutil.ignore_patterns("__*"))
    (folder / "es" / "patient_needs_info.txt").unlink()
    templates = Templates(folder)
    assert templates.missing() == [("es", "patient_needs_info.txt")]
    _, subject, text, html = templates.render("patient_needs_info", "es-MX", NoticeContext(PORTAL, False))
    assert "información" in subject and "información" in html  # what Spanish has
    assert "The specialist reviewing your case" in text  # the part it lacks: English


def _sample_events() -> list:
    """An event of every kind that is a notice to someone, as its producer fills it."""
    due = timestamp_pb2.Timestamp(seconds=1_800_000_000)
    sla = {"assignment_id": "a1", "specialist_id": "s1", "due_at": due}
    return [lifecycle_event(t) for t in ROUTES if t not in ("specialist.offered", "delivery.dead")] + [
        lifecycle_event("specialist.offered", specialist_id="s1", respond_by=due),
        lifecycle_event("sla.changed", change=events_pb2.SLA_CHANGE_REMINDER, **sla),
        lifecycle_event("sla.changed", change=events_pb2.SLA_CHANGE_BREACHED, seconds_left=-600, **sla),
        lifecycle_event("delivery.dead", delivery_id="e1:t1:webhook", channel="webhook", attempts=8,
                        notice_type="case.opinion_ready", last_error="receiver answered HTTP 500"),
    ]


def _facts(template: str) -> dict:
    """What the messages of `template` are given beside the portal (people of a case: nothing)."""
    for event in _sample_events():
        for channel in (EMAIL, SMS):
            for d in person_deliveries(event, route_of(event), channel, event.occurred_at.ToDatetime()):
                if d.template == template:
                    return json.loads(d.body) if d.body else {}
    raise AssertionError(f"no notice uses {template}")


class _Reviewers:
    def __init__(self, language):
        self.language = language
        self.purposes: list[str] = []

    async def of_reviewer(self, specialist_id, purpose, channels):
        self.purposes.append(purpose)
        return matching_pb2.SpecialistContact(specialist_id=specialist_id, email="reviewer@reviewers.example",
                                              phone="+14155550199", language=self.language)


class _Contacts:
    def __init__(self, contacts):
        self.contacts = contacts
        self.purposes: list[str] = []

    async def of_case(self, case_id, purpose, channels):
        self.purposes.append(purpose)
        return self.contacts


async def test_no_phi_of_the_case_reaches_any_message_in_any_language():
    """Canaries in every field of a case; the contacts intake would give for it; every
    e-mail and text composed from them, in every language: none of the case is in any
    body or subject, and the address or number only where the message is addressed."""
    request = intake_pb2.SubmitCaseRequest()
    request.CopyFrom(_sample())
    canaries = plant_canaries(request)
    composed = 0
    for language in sorted(Templates().languages) + ["fr", "canarylang"]:
        contacts = intake_pb2.Contacts(
            case_id="c1", tenant_id="t1", urgency=case_pb2.URGENCY_EXPEDITED,
            patient=intake_pb2.Contact(email=request.patient.email, phone=request.patient.phone, language=language),
            physician=intake_pb2.Contact(email=request.first_opinion.physician.email, language=language))
        book, reviewers = _Contacts(contacts), _Reviewers(language)
        addressed = {"patient": (contacts.patient.email, contacts.patient.phone),
                     "physician": (contacts.physician.email, ""), "operations": ("ops@secondlook.example", ""),
                     "reviewer": ("reviewer@reviewers.example", "+14155550199")}
        for channel in (EMAIL, SMS):
            for event in _sample_events():
                for delivery in person_deliveries(event, route_of(event), channel, event.occurred_at.ToDatetime()):
                    prepared = await usecases.compose(book, Templates(), delivery, sender="n@example.org",
                                                      portal_url=PORTAL, channels=(EMAIL, SMS), reviewers=reviewers,
                                                      operations_email="ops@secondlook.example")
                    outgoing = prepared.outgoing
                    assert prepared.skipped == "" and outgoing is not None
                    composed += 1
                    if isinstance(outgoing, SmsText):
                        rendered, to = outgoing.body, outgoing.to
                        assert to == addressed[delivery.recipient][1] and PORTAL in rendered and len(rendered) <= 320
                    else:
                        rendered = str(outgoing["Subject"]) + "\n" + "\n".join(
                            p.get_content() for p in outgoing.walk() if p.get_content_maintype() == "text")
                        assert outgoing["To"] == addressed[delivery.recipient][0]
                    found = [c for c in canaries if c.lower() in rendered.lower()]
                    assert found == [], (delivery.template, channel, language, found)
        assert all("canary" not in p for p in book.purposes + reviewers.purposes)  # purposes name the notice
    # 4 languages x (e-mails: patient and physician opinion, patient info request and withdrawal, the
    # reviewer's offer and reminder, operations' 4 escalations; texts: the patient's 3, the reviewer's 2)
    assert composed == 4 * (10 + 5)


async def test_a_notice_without_an_address_is_not_composed():
    book = _Contacts(intake_pb2.Contacts(case_id="c1", patient=intake_pb2.Contact(), physician=intake_pb2.Contact()))
    event = opinion_event()
    [patient, physician] = person_deliveries(event, route_of(event), EMAIL, event.occurred_at.ToDatetime())
    [text] = person_deliveries(event, route_of(event), SMS, event.occurred_at.ToDatetime())
    for delivery, what in ((patient, "e-mail address"), (physician, "e-mail address"), (text, "phone number")):
        prepared = await usecases.compose(book, Templates(), delivery, sender="n@example.org",
                                          portal_url=PORTAL, channels=(EMAIL, SMS))
        assert prepared == usecases.Prepared(skipped=f"the {delivery.recipient} has no {what} on the case")
    nobody = _Contacts(None)
    assert await usecases.compose(nobody, Templates(), patient, sender="n", portal_url=PORTAL,
                                  channels=(EMAIL,)) == usecases.Prepared(skipped="intake has no such case")


def _sample() -> intake_pb2.SubmitCaseRequest:
    from devstack import clients
    return clients.sample_cases()[0]


@pytest.mark.parametrize("language", sorted(Templates().languages))
@pytest.mark.parametrize("name", SMS_TEMPLATES)
def test_every_text_message_renders_on_one_short_line(name, language):
    used, text = Templates().sms(name, language, NoticeContext(PORTAL, True, _facts(name)))
    assert used == language and "\n" not in text and PORTAL in text and len(text) <= 320


def test_an_email_is_the_standard_policys_with_its_header_classes_built_once():
    templates = Templates()
    context = NoticeContext(portal_url="https://portal.example.org", expedited=False, facts={})
    first, second = (templates.message("patient_opinion_ready", "es", context, sender="Sécond Look <n@example.org>",
                                       to="ada@example.org", delivery_id=f"e{i}:patient:email") for i in (1, 2))
    again = email.message_from_bytes(first.as_bytes(), policy=email.policy.default)  # as a receiver parses it
    for header in ("Subject", "From", "To", "Message-ID", "Content-Language", "Content-Type"):
        assert str(again[header]) == str(first[header])
        assert type(first[header]) is type(second[header])  # one class per header name, not one per message
    assert again.get_body(("plain",)).get_content() == first.get_body(("plain",)).get_content()


def test_a_message_is_rendered_without_looking_at_the_folder_again(monkeypatch):
    templates = Templates()
    templates.render("patient_needs_info", "es", NoticeContext(PORTAL, False))  # the template, read once

    def no_stat(self):
        raise AssertionError(f"looked at {self} while rendering")

    with monkeypatch.context() as patched:  # undone before pytest reports (it reads files too)
        patched.setattr(Path, "is_file", no_stat)
        patched.setattr(Path, "stat", no_stat)
        try:
            _, subject, _, _ = templates.render("patient_needs_info", "es", NoticeContext(PORTAL, False))
        except AssertionError as looked:
            subject = str(looked)
    assert "información" in subject

"""notify's e-mail templates: every template in every language renders, carries
none of the case's PHI whatever the case holds, autoescapes HTML, and a missing
translation falls back to English and is named by the check below."""

from __future__ import annotations

import shutil

import pytest

from secondlook.v1 import case_pb2, intake_pb2
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
    used, subject, text, html = Templates().render(name, language, NoticeContext(PORTAL, expedited))
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
        book = _Contacts(contacts)
        for channel in (EMAIL, SMS):
            for event_type in ROUTES:
                event = lifecycle_event(event_type)
                for delivery in person_deliveries(event, route_of(event), channel, event.occurred_at.ToDatetime()):
                    prepared = await usecases.compose(book, Templates(), delivery, sender="n@example.org",
                                                      portal_url=PORTAL, channels=(EMAIL, SMS))
                    outgoing = prepared.outgoing
                    assert prepared.skipped == "" and outgoing is not None
                    composed += 1
                    if isinstance(outgoing, SmsText):
                        rendered, to = outgoing.body, outgoing.to
                        assert to == contacts.patient.phone and PORTAL in rendered and len(rendered) <= 320
                    else:
                        rendered = str(outgoing["Subject"]) + "\n" + "\n".join(
                            p.get_content() for p in outgoing.walk() if p.get_content_maintype() == "text")
                        to = outgoing["To"]
                        assert to == (contacts.patient.email if delivery.recipient == "patient"
                                      else contacts.physician.email)
                    found = [c for c in canaries if c.lower() in rendered.lower()]
                    assert found == [], (delivery.template, channel, language, found)
        assert all("canary" not in p for p in book.purposes)  # the audit's purpose names the notice only
    # 4 languages x (patient and physician opinion, patient info request, patient withdrawal: e-mail; 3 texts)
    assert composed == 4 * (4 + 3)


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
    used, text = Templates().sms(name, language, NoticeContext(PORTAL, True))
    assert used == language and "\n" not in text and PORTAL in text and len(text) <= 320

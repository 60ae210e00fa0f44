"""A reviewer's contact details in the directory: checked like a patient's (the
kernel's helpers), stored with the specialist, never in an event, and read by the
notify service alone, channel by channel, each read in the access audit."""

from __future__ import annotations

import dataclasses

import pytest

from secondlook.audit import Access
from secondlook.auth import Principal
from secondlook.clock import FakeClock
from secondlook.v1 import events_pb2
from secondlook.validation import Checks
from services.matching import reference, usecases
from services.matching.domain.csvimport import read_csv
from services.matching.domain.directory import Contact, contact_for, specialist_changed
from services.matching.domain.registration import validate_specialist
from services.matching.specialistdoc import specialist_from_doc, specialist_to_doc
from tests.fakes.matching import InMemoryDirectory, matching_transact
from tests.unit.test_matching_directory import good

CLOCK = FakeClock()
NOW = CLOCK.now()
NOTIFY = Principal("service:notify", "secondlook-services", frozenset({"contact-reader"}))
EMAIL, PHONE = "dr.ada.synth@reviewers.example", "+14155552671"


class RecordedAudit:
    def __init__(self):
        self.accesses: list[Access] = []

    async def record(self, access: Access) -> None:
        self.accesses.append(access)


def _validate(msg):
    return validate_specialist(msg, reference.taxonomy())


def test_contact_details_are_read_normalised_and_all_optional():
    s, violations = _validate(good(email=" Dr.Ada.Synth@Reviewers.EXAMPLE ", phone="+1 415-555-2671",
                                   notice_language="es-mx"))
    assert violations == []
    assert (s.email, s.phone, s.notice_language) == ("Dr.Ada.Synth@reviewers.example", PHONE, "es-MX")
    bare, violations = _validate(good())
    assert violations == [] and (bare.email, bare.phone, bare.notice_language) == ("", "", "")


@pytest.mark.parametrize("changes, path, rule", [
    (dict(email="not-an-address"), "email", "is not an e-mail address"),
    (dict(email="dr@"), "email", "is not an e-mail address"),
    (dict(phone="555 2671"), "phone", "E.164"),  # no area code
    (dict(phone="+1 415 555 2671 ext. 7"), "phone", "without an extension"),
    (dict(phone="+1 000 000 0000"), "phone", "E.164"),
    (dict(notice_language="xx-!!"), "notice_language", "BCP-47"),
    (dict(notice_language="und"), "notice_language", "names no language"),
])
def test_a_bad_contact_detail_is_named_by_its_field(changes, path, rule):
    s, violations = _validate(good(**changes))
    assert s is None and [p for p, _ in violations] == [path]
    assert rule in violations[0][1]


def test_every_contact_violation_is_reported_with_the_others_at_once():
    _, violations = _validate(good(email="x", phone="12", notice_language="!!", capacity=-1))
    assert [p for p, _ in violations] == ["capacity", "email", "phone", "notice_language"]


def test_a_reviewers_address_is_refused_in_the_words_a_patients_is():
    checks = Checks()  # the helpers intake checks a patient's e-mail and phone with
    assert checks.email("patient.email", "not-an-address") == "" and checks.phone("patient.phone", "12", region="US") == ""
    _, violations = _validate(good(email="not-an-address", phone="12"))
    assert [rule for _, rule in violations] == [rule for _, rule in checks.violations]


def test_a_phone_without_its_country_code_is_read_in_the_first_licences_country():
    s, violations = _validate(good(phone="(415) 555-2671"))
    assert violations == [] and s.phone == "+14155552671"


def test_contact_details_are_stored_with_the_specialist_and_read_back():
    s, _ = _validate(good(email=EMAIL, phone=PHONE, notice_language="es"))
    doc = specialist_to_doc(s)
    assert (doc["email"], doc["phone"], doc["notice_language"]) == (EMAIL, PHONE, "es")
    assert specialist_from_doc({**doc, "free_slots": s.free_slots}) == s
    seeded = specialist_from_doc({k: v for k, v in doc.items() if k not in ("email", "phone", "notice_language")})
    assert (seeded.email, seeded.phone, seeded.notice_language) == ("", "", "")  # a directory seeded before them


async def test_the_directory_event_never_carries_a_contact_detail():
    assert not {"email", "phone", "notice_language"} & set(events_pb2.SpecialistChanged.DESCRIPTOR.fields_by_name)
    transact = matching_transact()
    proposed, _ = _validate(good(email=EMAIL, phone=PHONE, notice_language="es"))
    await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    [event] = [e for e in transact.committed if e.type == "specialist.changed"]
    wire = event.SerializeToString()
    assert EMAIL.encode() not in wire and PHONE.encode() not in wire and b"15555" not in wire
    again = specialist_changed(proposed, created=False, now=NOW).SerializeToString()
    assert EMAIL.encode() not in again and PHONE.encode() not in again


def test_notices_are_in_the_notice_language_else_the_first_listed_else_english():
    s, _ = _validate(good(languages=["fr", "es-MX"], notice_language="pt-BR"))
    assert s.language_of_notices() == "pt-BR"
    assert dataclasses.replace(s, notice_language="").language_of_notices() == "es-MX"  # as listed: sorted
    assert dataclasses.replace(s, notice_language="", languages=frozenset()).language_of_notices() == "en"


def test_a_channel_gets_only_what_it_needs():
    s, _ = _validate(good(email=EMAIL, phone=PHONE, notice_language="es"))
    assert contact_for(s, ("email",)) == Contact("spec-new", email=EMAIL, language="es")
    assert contact_for(s, ("sms",)) == Contact("spec-new", phone=PHONE, language="es")
    assert contact_for(s, ("email", "sms")) == Contact("spec-new", EMAIL, PHONE, "es")


async def _directory(**changes):
    transact = matching_transact()
    proposed, violations = _validate(good(email=EMAIL, phone=PHONE, **changes))
    assert violations == []
    await transact(lambda uow: usecases.upsert_specialist(uow, proposed, 0, NOW))
    return transact, InMemoryDirectory(transact.state)


async def test_the_notify_service_reads_a_contact_and_the_audit_records_why_not_what():
    _, directory = await _directory()
    audit = RecordedAudit()
    found = await usecases.specialist_contact(directory, audit, CLOCK, NOTIFY, "spec-new",
                                              "assignment.offered notice e-1", ("sms",))
    assert found == Contact("spec-new", phone=PHONE, language="en")  # the first of en, es-MX
    [access] = audit.accesses
    assert access == Access(tenant_id=usecases.DIRECTORY_AUDIT, subject="assignment.offered notice e-1 via "
                            "service:notify", roles=("contact-reader",), method="GetSpecialistContact",
                            case_id="spec-new", fields=("phone", "language"), at=NOW,
                            caller_tenant="secondlook-services")
    assert PHONE not in repr(access) and EMAIL not in repr(access)


@pytest.mark.parametrize("principal", [
    Principal("service:review", "secondlook-services", frozenset({"contact-reader"})),
    Principal("service:notify", "mercy-general", frozenset({"contact-reader"})),  # the name, in a tenant's token
])
async def test_nobody_but_the_notify_service_reads_a_contact(principal):
    _, directory = await _directory()
    audit = RecordedAudit()
    with pytest.raises(usecases.NotNotifyService):
        await usecases.specialist_contact(directory, audit, CLOCK, principal, "spec-new", "p", ("email",))
    assert audit.accesses == []


async def test_an_unknown_or_deactivated_specialist_has_no_contact_and_nothing_is_recorded():
    transact, directory = await _directory()
    audit = RecordedAudit()
    with pytest.raises(usecases.NotFound):
        await usecases.specialist_contact(directory, audit, CLOCK, NOTIFY, "nobody", "p", ("email",))
    await transact(lambda uow: usecases.deactivate_specialist(uow, "spec-new", NOW))
    with pytest.raises(usecases.NotFound):
        await usecases.specialist_contact(InMemoryDirectory(transact.state), audit, CLOCK, NOTIFY, "spec-new", "p", ("email",))
    assert audit.accesses == []


def test_an_import_row_carries_contact_details_and_its_violations_name_the_row():
    header = "specialist_id,npi,specialties,licences,languages,capacity,email,phone,notice_language"
    rows, problems = read_csv(f"{header}\n"
                              f"a,1234567893,207RX0202X,US-CA|2099-01-01,en;es,2,{EMAIL},{PHONE},es\n"
                              "b,1234567893,207RX0202X,US-CA|2099-01-01,en,2,b@,+1,\n")
    assert problems == []
    (_, first), (where, second) = rows
    entity, violations = _validate(first)
    assert violations == [] and (entity.email, entity.phone, entity.notice_language) == (EMAIL, PHONE, "es")
    _, violations = _validate(second)
    assert [f"{where}.{p}" for p, _ in violations] == ["rows[3].email", "rows[3].phone"]

"""Notification preferences: quiet hours (across midnight, in the person's time zone),
muted channels, a person's language over the case's and the tenant's default, who may
set whose, and what a notice to a person does with them at send time."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from secondlook.auth import Principal
from secondlook.clock import FakeClock
from secondlook.v1 import case_pb2, intake_pb2
from services.notify import usecases
from services.notify.domain.deliveries import PENDING, Attempt, person_deliveries
from services.notify.domain.preferences import (
    REVIEWERS_SCOPE,
    TENANT,
    Preferences,
    QuietHours,
    effective,
    parse_quiet_hours,
)
from services.notify.domain.routing import EMAIL, SMS, route_of
from services.notify.templating import Templates
from tests.fakes.notify import (
    InMemoryDeliveries,
    InMemoryDeliveryQueue,
    InMemoryPreferences,
    lifecycle_event,
    notify_transact,
)

NIGHT = QuietHours(time(21, 0), time(8, 0), "America/New_York")
NPI = "1234567893"


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


@pytest.mark.parametrize("now, ends", [
    ("2026-11-27T22:30-05:00", "2026-11-28T08:00-05:00"),  # evening: until tomorrow morning
    ("2026-11-28T03:00-05:00", "2026-11-28T08:00-05:00"),  # after midnight: the night began yesterday
    ("2026-11-28T08:00-05:00", None),  # the end is not quiet
    ("2026-11-28T12:00-05:00", None),
    ("2026-11-28T02:00+00:00", "2026-11-28T08:00-05:00"),  # a UTC clock, New York's night
    ("2026-03-08T01:30-05:00", "2026-03-08T08:00-04:00"),  # the night clocks go forward: 08:00 EDT
])
def test_quiet_hours_end_in_the_persons_own_time(now, ends):
    found = NIGHT.ends_after(_at(now))
    assert found == (None if ends is None else _at(ends))


@pytest.mark.parametrize("now, ends", [
    ("2026-11-01T05:15+00:00", "2026-11-01T05:30+00:00"),  # 01:15 EDT: until the first 01:30
    ("2026-11-01T06:15+00:00", None),  # 01:15 again (EST): the quiet hours ended at the first 01:30
    ("2026-11-01T06:45+00:00", None),
    ("2026-03-08T07:30+00:00", "2026-03-08T05:30+00:00"),
])
def test_quiet_hours_across_the_nights_the_clocks_change(now, ends):
    """22:00-01:30 in New York: every end found is after now, whatever the clock did."""
    late = QuietHours(time(22, 0), time(1, 30), "America/New_York")
    found = late.ends_after(_at(now))
    if ends is not None and _at(ends) <= _at(now):
        assert found is None  # the night was over before now
    else:
        assert found == (None if ends is None else _at(ends))
    assert found is None or found > _at(now)


def test_an_end_the_clock_skips_is_read_as_rfc_5545_reads_it():
    """22:00-02:30 in New York, the night 02:00 EST becomes 03:00 EDT: 02:30 is 03:30 EDT."""
    gap = QuietHours(time(22, 0), time(2, 30), "America/New_York")
    assert gap.ends_after(_at("2026-03-08T01:45-05:00")) == _at("2026-03-08T03:30-04:00")
    assert gap.ends_after(_at("2026-03-08T03:15-04:00")) == _at("2026-03-08T03:30-04:00")
    assert gap.ends_after(_at("2026-03-08T03:30-04:00")) is None


def test_daytime_quiet_hours_do_not_wrap():
    lunch = QuietHours(time(12, 0), time(13, 0), "Europe/Madrid")
    assert lunch.ends_after(_at("2026-11-27T12:30+01:00")) == _at("2026-11-27T13:00+01:00")
    assert lunch.ends_after(_at("2026-11-27T23:30+01:00")) is None


def test_quiet_hours_fields_are_each_named():
    assert parse_quiet_hours("", "", "") == (None, [])
    _, violations = parse_quiet_hours("25:00", "7am", "Mars/Olympus")
    assert violations == [("quiet_hours.start", "must be a 24-hour local time HH:MM, e.g. 21:00"),
                          ("quiet_hours.end", "must be a 24-hour local time HH:MM, e.g. 21:00"),
                          ("quiet_hours.time_zone", "must be an IANA time zone, e.g. America/New_York")]
    _, violations = parse_quiet_hours("21:00", "21:00", "EST")
    assert [f for f, _ in violations] == ["quiet_hours.end", "quiet_hours.time_zone"]
    assert parse_quiet_hours("21:00", "07:30", "UTC")[0] == QuietHours(time(21), time(7, 30), "UTC")
    for zone in ("EST5EDT", "US/Eastern", "Asia/Kathmandu"):  # IANA names, the old-style ones too
        assert parse_quiet_hours("21:00", "07:30", zone)[1] == []
    for file_no_zone in ("localtime", "posixrules", "right/UTC", "posix/Europe/Paris", "../etc/passwd", ""):
        assert [f for f, _ in parse_quiet_hours("21:00", "07:30", file_no_zone)[1]] == ["quiet_hours.time_zone"]


def test_a_persons_wishes_come_before_the_tenants_and_a_mute_is_a_mute():
    tenant = Preferences("t1", TENANT, "", muted_channels=(SMS,), language="es", quiet_hours=NIGHT)
    person = Preferences("t1", "patient", "c1", language="fr",
                         quiet_hours=QuietHours(time(22), time(6), "Europe/Paris"))
    assert effective(SMS, None, tenant).muted and effective(SMS, person, tenant).muted
    assert not effective(EMAIL, person, tenant).muted
    assert effective(EMAIL, person, tenant).language == "fr"
    assert effective(EMAIL, person, tenant).quiet_hours.time_zone == "Europe/Paris"
    assert effective(EMAIL, None, tenant).quiet_hours == NIGHT and effective(EMAIL, None, None).quiet_hours is None
    assert effective(EMAIL, person, None).wait_until(_at("2026-11-27T23:00+01:00"), expedited=True) is None


def _principal(*roles, tenant="t1", specialist_id="", subject="someone"):
    return Principal(subject=subject, tenant=tenant, roles=frozenset(roles), specialist_id=specialist_id)


@pytest.mark.parametrize("roles, kind, subject_id, scope", [
    (("tenant-admin",), TENANT, "", "tenant:t1"),
    (("submitter",), "patient", "c1", "tenant:t1"),
    (("tenant-admin",), "physician", NPI, "tenant:t1"),
    (("reviewer",), "reviewer", "s1", REVIEWERS_SCOPE),
    (("directory-admin",), "reviewer", "s2", REVIEWERS_SCOPE),
    (("operator",), "reviewer", "s2", None),  # one tenant's operator: a reviewer's preferences hold for all tenants
    (("submitter",), TENANT, "", None),
    (("reviewer",), "reviewer", "s2", None),  # another reviewer's
    (("reviewer",), "patient", "c1", None),
    (("operator",), "patient", "c1", None),
])
def test_who_may_manage_whose_preferences(roles, kind, subject_id, scope):
    principal = _principal(*roles, specialist_id="s1" if "reviewer" in roles else "")
    if scope is None:
        with pytest.raises(usecases.NotYours):
            usecases.preference_scope(principal, kind, subject_id)
    else:
        assert usecases.preference_scope(principal, kind, subject_id) == scope


def test_a_tenant_named_like_the_reviewers_scope_has_a_scope_of_its_own():
    named = _principal("tenant-admin", tenant=REVIEWERS_SCOPE)
    assert usecases.preference_scope(named, TENANT, "") != REVIEWERS_SCOPE


async def test_preferences_are_validated_whole_versioned_and_read_back():
    repository, clock = InMemoryPreferences(), FakeClock()
    admin = _principal("tenant-admin", subject="admin@t1")
    with pytest.raises(usecases.InvalidPreferences) as refused:
        await usecases.set_preferences(repository, clock, admin, kind="physician", subject_id="1234567890",
                                       muted_channels=["fax", "sms", "sms"], language="xx-!!", quiet_start="9pm",
                                       quiet_end="", time_zone="Nowhere/Land", expected_version=-1)
    assert [f for f, _ in refused.value.violations] == [
        "subject.physician_npi", "muted_channels[0]", "muted_channels", "language", "quiet_hours.start",
        "quiet_hours.end", "quiet_hours.time_zone", "expected_version"]
    assert repository.saved == {}  # nothing kept
    assert (await usecases.get_preferences(repository, admin, "physician", NPI)).version == 0  # the defaults
    saved = await usecases.set_preferences(repository, clock, admin, kind="physician", subject_id=NPI,
                                           muted_channels=["sms"], language="es-mx", quiet_start="21:00",
                                           quiet_end="08:00", time_zone="America/New_York", expected_version=0)
    assert (saved.version, saved.language, saved.quiet_hours, saved.updated_by) == (1, "es-MX", NIGHT, "admin@t1")
    assert await usecases.get_preferences(repository, admin, "physician", NPI) == saved
    with pytest.raises(usecases.PreferencesChanged):
        await usecases.set_preferences(repository, clock, admin, kind="physician", subject_id=NPI,
                                       muted_channels=[], language="", quiet_start="", quiet_end="", time_zone="",
                                       expected_version=7)
    other_tenant = _principal("tenant-admin", tenant="t2")
    assert (await usecases.get_preferences(repository, other_tenant, "physician", NPI)).version == 0  # not t1's


class _Book:
    def __init__(self, urgency=case_pb2.URGENCY_STANDARD, language="", status=case_pb2.CASE_STATUS_OPINION_READY):
        self.contacts = intake_pb2.Contacts(
            case_id="c1", tenant_id="t1", urgency=urgency, status=status,
            patient=intake_pb2.Contact(email="p@example.org", phone="+14155550100", language=language),
            physician=intake_pb2.Contact(email="dr@example.org", npi=NPI))
        self.reads = 0

    async def of_case(self, case_id, purpose, channels):
        self.reads += 1
        return self.contacts


async def _compose(book, delivery, preferences, now):
    return await usecases.compose(book, Templates(), delivery, sender="n@example.org", portal_url="https://p.example",
                                  channels=(EMAIL, SMS), preferences=preferences, now=now)


def _notices(channel):
    event = lifecycle_event("opinion.submitted")
    return {d.recipient: d for d in person_deliveries(event, route_of(event), channel,
                                                      event.occurred_at.ToDatetime(tzinfo=UTC))}


async def test_a_case_withdrawn_while_its_opinion_was_on_the_way_tells_its_people_nothing_of_it():
    # The tenant withdrew the case as the reviewer signed: intake, the system of record,
    # has it WITHDRAWN, so nobody is told an opinion is ready (the address may even be
    # another person's, when it was submitted in error). The withdrawal itself is told.
    withdrawn = _Book(status=case_pb2.CASE_STATUS_WITHDRAWN)
    for channel in (EMAIL, SMS):
        for recipient, notice in _notices(channel).items():
            prepared = await _compose(withdrawn, notice, InMemoryPreferences(), _at("2026-11-28T12:00Z"))
            assert prepared.outgoing is None and "withdrawn" in prepared.skipped, (channel, recipient)
    event = lifecycle_event("case.withdrawn")
    [told] = person_deliveries(event, route_of(event), EMAIL, event.occurred_at.ToDatetime(tzinfo=UTC))
    prepared = await _compose(withdrawn, told, InMemoryPreferences(), _at("2026-11-28T12:00Z"))
    assert prepared.outgoing is not None and not prepared.skipped


async def test_a_notice_keeps_the_recipients_quiet_hours_unless_the_case_is_expedited():
    preferences, clock = InMemoryPreferences(), FakeClock()
    admin = _principal("tenant-admin")
    await usecases.set_preferences(preferences, clock, admin, kind=TENANT, subject_id="", muted_channels=[],
                                   language="", quiet_start="21:00", quiet_end="08:00",
                                   time_zone="America/New_York", expected_version=0)
    night = _at("2026-11-27T23:00-05:00")
    patient = _notices(EMAIL)["patient"]
    prepared = await _compose(_Book(), patient, preferences, night)
    assert prepared.outgoing is None and prepared.wait_until == _at("2026-11-28T08:00-05:00")
    assert prepared.why_waiting == "quiet hours 21:00-08:00 America/New_York"
    expedited = await _compose(_Book(urgency=case_pb2.URGENCY_EXPEDITED), patient, preferences, night)
    assert expedited.outgoing is not None and expedited.wait_until is None
    morning = await _compose(_Book(), patient, preferences, _at("2026-11-28T09:00-05:00"))
    assert morning.outgoing is not None


async def test_a_muted_channel_is_skipped_and_a_persons_language_wins():
    preferences, clock = InMemoryPreferences(), FakeClock()
    submitter = _principal("submitter")
    await usecases.set_preferences(preferences, clock, submitter, kind="patient", subject_id="c1",
                                   muted_channels=["sms"], language="es", quiet_start="", quiet_end="", time_zone="",
                                   expected_version=0)
    now = _at("2026-11-27T12:00-05:00")
    text = await _compose(_Book(language="en"), _notices(SMS)["patient"], preferences, now)
    assert text.outgoing is None and "does not receive sms notices" in text.skipped
    mail = await _compose(_Book(language="en"), _notices(EMAIL)["patient"], preferences, now)
    assert mail.outgoing["Content-Language"] == "es"  # the patient's wish over the case's language
    await usecases.set_preferences(preferences, clock, _principal("tenant-admin"), kind=TENANT, subject_id="",
                                   muted_channels=[], language="es", quiet_start="", quiet_end="", time_zone="",
                                   expected_version=0)
    physician = await _compose(_Book(), _notices(EMAIL)["physician"], preferences, now)
    assert physician.outgoing["Content-Language"] == "es"  # no language on the case: the tenant's default
    await usecases.set_preferences(preferences, clock, submitter, kind="physician", subject_id=NPI,
                                   muted_channels=["email"], language="", quiet_start="", quiet_end="", time_zone="",
                                   expected_version=0)
    assert "physician does not receive email" in (await _compose(_Book(), _notices(EMAIL)["physician"],
                                                                 preferences, now)).skipped


async def test_a_postponed_notice_waits_and_keeps_its_attempts():
    transact = notify_transact()
    event = lifecycle_event("opinion.submitted")
    sent: list = []
    await usecases.record_notices(InMemoryDeliveries(transact.state), _NoEndpoints(), [event], FakeClock(),
                                  sent.extend, 10, channels=frozenset({EMAIL}))
    [patient] = [d for d in sent if d.recipient == "patient"]
    until = _at("2026-11-28T08:00-05:00")
    queue = InMemoryDeliveryQueue(transact)
    assert await usecases.record_postponed(queue, patient, Attempt(1, FakeClock().now(), "postponed",
                                                                   error="quiet hours"), until, max_attempts=5)
    waiting = transact.state.deliveries[patient.delivery_id]
    assert (waiting.status, waiting.next_attempt_at, waiting.attempt_budget) == (PENDING, until, 6)
    assert waiting.log[-1].outcome == "postponed"


class _NoEndpoints:
    async def of_tenant(self, tenant_id, fresh=False):
        return []

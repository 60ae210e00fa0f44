"""Notification preferences: which channels a person hears on, in which language, and
when not to be disturbed. Pure rules, no I/O.

A tenant sets defaults for the people of its cases (channels it never uses,
the language of a reader whose language is unknown, quiet hours); a person's
own preferences, recorded by the tenant for its patients and referring
physicians or by a reviewer for themselves, come first. A muted channel is
muted whoever muted it. During quiet hours a notice that is not urgent waits
for them to end; a notice of an expedited case never waits. Webhooks
(machines) have no preferences.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from secondlook.codes import language_problem, npi_is_valid

from .routing import PATIENT, PERSON_CHANNELS, PHYSICIAN, REVIEWER

# Whose preferences: the tenant's defaults, or a person's (PATIENT, PHYSICIAN, REVIEWER).
TENANT = "tenant"
# The request field that names each kind of person (notify.proto's PreferencesSubject).
SUBJECT_FIELDS = {PATIENT: "subject.patient_of_case", PHYSICIAN: "subject.physician_npi", REVIEWER: "subject.reviewer"}
# A reviewer's preferences are theirs, not a tenant's: one scope for all, which no
# tenant's scope can be (those are "tenant:<id>", whatever the id).
REVIEWERS_SCOPE = "reviewers"


def tenant_scope(tenant_id: str) -> str:
    """Where a tenant's defaults and its people's preferences live."""
    return f"tenant:{tenant_id}"
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_ID = 200


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time  # before start: the quiet hours run past midnight
    time_zone: str  # IANA, e.g. "America/New_York"

    def ends_after(self, now: datetime) -> datetime | None:
        """When the quiet hours under way at `now` (aware) end, or None when it is not quiet.
        Compared as instants (UTC): two aware times in one zone compare by their wall
        clocks, which repeat in the hour a clock goes back. A wall time the clock skips
        (02:30 on the spring-forward night) is read with the offset before the gap, as
        RFC 5545 reads one: 03:30 the new time, as long a night as any other."""
        zone = ZoneInfo(self.time_zone)
        instant = now.astimezone(UTC)
        today = now.astimezone(zone).date()
        for day in (today - timedelta(days=1), today):  # a quiet night may have begun yesterday
            begins = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
            last_day = day if self.end > self.start else day + timedelta(days=1)
            ends = datetime.combine(last_day, self.end, tzinfo=zone).astimezone(UTC)
            if begins <= instant < ends:
                return ends.astimezone(now.tzinfo)
        return None

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.time_zone}"


@dataclass(frozen=True)
class Preferences:
    scope: str  # the tenant id, or REVIEWERS_SCOPE
    kind: str  # TENANT, PATIENT, PHYSICIAN or REVIEWER
    subject_id: str  # the case id, the physician's NPI, the reviewer's specialist id ("" for the tenant)
    muted_channels: tuple[str, ...] = ()
    language: str = ""
    quiet_hours: QuietHours | None = None
    updated_at: datetime | None = None
    updated_by: str = ""
    version: int = 0

    @property
    def key(self) -> str:
        return preference_key(self.scope, self.kind, self.subject_id)


def preference_key(scope: str, kind: str, subject_id: str = "") -> str:
    return f"{scope}|{kind}|{subject_id}"


@dataclass(frozen=True)
class Effective:
    """What applies to one notice to one person."""
    muted: bool
    language: str  # "" : the contact's own, else English
    quiet_hours: QuietHours | None

    def wait_until(self, now: datetime, expedited: bool) -> datetime | None:
        """When a notice due now may go (None: now)."""
        if expedited or self.quiet_hours is None:
            return None
        return self.quiet_hours.ends_after(now)


def effective(channel: str, person: Preferences | None, tenant: Preferences | None) -> Effective:
    """The person's preferences over the tenant's defaults."""
    muted = any(p is not None and channel in p.muted_channels for p in (person, tenant))
    language = (person.language if person else "") or ""
    quiet = (person.quiet_hours if person else None) or (tenant.quiet_hours if tenant else None)
    return Effective(muted=muted, language=language, quiet_hours=quiet)


def default_language(tenant: Preferences | None) -> str:
    """The language of a reader whose language the case does not say."""
    return tenant.language if tenant else ""


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA time zone names (EST5EDT and US/Eastern among them; not the tz database's
    files that are none, such as localtime, posixrules or right/UTC)."""
    return frozenset(z for z in zoneinfo.available_timezones()
                     if z not in ("localtime", "posixrules", "Factory") and not z.startswith(("posix/", "right/")))


def parse_quiet_hours(start: str, end: str, time_zone: str, field: str = "quiet_hours"
                      ) -> tuple[QuietHours | None, list[tuple[str, str]]]:
    """Quiet hours from their fields, or every violation; all three empty: none."""
    if not (start or end or time_zone):
        return None, []
    violations = []
    times = []
    for name, value in (("start", start), ("end", end)):
        match = _HH_MM.match(value)
        if match is None:
            violations.append((f"{field}.{name}", "must be a 24-hour local time HH:MM, e.g. 21:00"))
        else:
            times.append(time(int(match[1]), int(match[2])))
    if len(times) == 2 and times[0] == times[1]:
        violations.append((f"{field}.end", "must differ from start"))
    if time_zone not in _zones():
        violations.append((f"{field}.time_zone", "must be an IANA time zone, e.g. America/New_York"))
    elif time_zone.isalpha() and len(time_zone) <= 4 and time_zone not in ("UTC", "GMT"):
        violations.append((f"{field}.time_zone", f"must be an IANA time zone, e.g. America/New_York: {time_zone} "
                                                 "is a fixed offset that keeps no daylight saving time"))
    if violations:
        return None, violations
    return QuietHours(start=times[0], end=times[1], time_zone=time_zone), []


def check_preferences(muted_channels: list[str], language: str) -> tuple[str, list[tuple[str, str]]]:
    """(the language standardised, every violation)."""
    violations = [(f"muted_channels[{i}]", f"must be one of {', '.join(PERSON_CHANNELS)}")
                  for i, c in enumerate(muted_channels) if c not in PERSON_CHANNELS]
    if len(set(muted_channels)) != len(muted_channels):
        violations.append(("muted_channels", "must not repeat a channel"))
    standard = ""
    if language:
        standard, problem = language_problem(language)
        if problem:
            violations.append(("language", problem))
    return standard or "", violations


def check_subject_id(kind: str, subject_id: str) -> list[tuple[str, str]]:
    if kind == TENANT:
        return []
    field = SUBJECT_FIELDS[kind]
    if not subject_id or len(subject_id) > MAX_ID or not subject_id.isprintable() or "|" in subject_id:
        return [(field, f"is required: printable, at most {MAX_ID} characters, without '|'")]
    if kind == PHYSICIAN and not npi_is_valid(subject_id):
        return [(field, "must be a 10-digit NPI with a valid check digit")]
    return []

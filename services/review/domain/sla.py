"""The review's SLA clock: a time budget by urgency, started once the reviewer holds
the case and its records, paused while the reviewer waits on the submitter
(NEEDS_INFO), stopped by the opinion (or a withdrawal).

The clock counts only the time it ran: `used_seconds` holds what ran before
`running_since` (all of it while paused or stopped). Reminders fall due at
fractions of the budget, then the breach at the whole of it; each is recorded on
the clock when it fires (`reminders_sent`, `breached_at`), so a restarted service
fires none twice. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from secondlook.v1.case_pb2 import Urgency

NOT_STARTED, RUNNING, PAUSED, STOPPED = "not_started", "running", "paused", "stopped"
# The store keeps times to the millisecond: an alarm re-armed from it may fall due a
# fraction of a millisecond before its threshold, and must still fire then.
TOLERANCE_SECONDS = 0.002


@dataclass(frozen=True)
class SlaRules:
    """Budgets by urgency (defaults: the CMS-0057-F prior-authorization clocks, used
    for second opinions too) and the fractions of the budget that remind the reviewer."""

    standard_seconds: int = 7 * 24 * 3600
    expedited_seconds: int = 72 * 3600
    reminder_fractions: tuple[float, ...] = (0.5, 0.8)
    # A prior authorization's decision: the CMS-0057-F clocks, from the request's receipt.
    prior_auth_standard_seconds: int = 7 * 24 * 3600
    prior_auth_expedited_seconds: int = 72 * 3600

    def budget(self, urgency: int, prior_auth: bool = False) -> int:
        expedited = urgency == Urgency.URGENCY_EXPEDITED
        if prior_auth:
            return self.prior_auth_expedited_seconds if expedited else self.prior_auth_standard_seconds
        return self.expedited_seconds if expedited else self.standard_seconds


DEFAULT_RULES = SlaRules()  # the settings' defaults


@dataclass(frozen=True)
class SlaClock:
    budget_seconds: int
    reminder_fractions: tuple[float, ...]
    started_at: datetime
    used_seconds: float = 0.0
    running_since: datetime | None = None  # None while paused or stopped
    reminders_sent: int = 0
    breached_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def state(self) -> str:
        if self.stopped_at is not None:
            return STOPPED
        return RUNNING if self.running_since is not None else PAUSED


@dataclass(frozen=True)
class Alarm:
    """What fell due: reminder number `reminder` (1, 2, ...), or the breach (reminder 0)."""

    reminder: int
    clock: SlaClock  # the clock with it recorded

    @property
    def breach(self) -> bool:
        return self.reminder == 0


def started(rules: SlaRules, urgency: int, now: datetime, prior_auth: bool = False) -> SlaClock:
    return SlaClock(budget_seconds=rules.budget(urgency, prior_auth), reminder_fractions=tuple(sorted(rules.reminder_fractions)),
                    started_at=now, running_since=now)


def used(clock: SlaClock, now: datetime) -> float:
    running = (now - clock.running_since).total_seconds() if clock.running_since is not None else 0.0
    return clock.used_seconds + max(0.0, running)


def seconds_left(clock: SlaClock, now: datetime) -> float:
    """Negative once breached."""
    return clock.budget_seconds - used(clock, now)


def due_at(clock: SlaClock) -> datetime | None:
    """When the budget runs out, while the clock runs."""
    if clock.state != RUNNING:
        return None
    assert clock.running_since is not None
    return clock.running_since + timedelta(seconds=clock.budget_seconds - clock.used_seconds)


def paused(clock: SlaClock, now: datetime) -> SlaClock:
    if clock.state != RUNNING:
        return clock
    return replace(clock, used_seconds=used(clock, now), running_since=None)


def resumed(clock: SlaClock, now: datetime) -> SlaClock:
    if clock.state != PAUSED:
        return clock
    return replace(clock, running_since=now)


def stopped(clock: SlaClock, now: datetime) -> SlaClock:
    if clock.state == STOPPED:
        return clock
    return replace(clock, used_seconds=used(clock, now), running_since=None, stopped_at=now)


def _thresholds(clock: SlaClock) -> list[float]:
    return [f * clock.budget_seconds for f in clock.reminder_fractions]


def next_alarm_at(clock: SlaClock) -> datetime | None:
    """When the next reminder or the breach falls due, while the clock runs; None when
    all have fired (or it does not run)."""
    if clock.state != RUNNING or clock.breached_at is not None:
        return None
    assert clock.running_since is not None
    thresholds = _thresholds(clock)
    at = thresholds[clock.reminders_sent] if clock.reminders_sent < len(thresholds) else clock.budget_seconds
    return clock.running_since + timedelta(seconds=max(0.0, at - clock.used_seconds))


def alarm(clock: SlaClock, now: datetime) -> Alarm | None:
    """What falls due at `now`, recorded on the clock; None when nothing does. A clock
    past its budget breaches at once, without the reminders it slept through."""
    if clock.state != RUNNING or clock.breached_at is not None:
        return None
    spent, thresholds = used(clock, now) + TOLERANCE_SECONDS, _thresholds(clock)
    if spent >= clock.budget_seconds:
        return Alarm(0, replace(clock, breached_at=now, reminders_sent=len(thresholds)))
    if clock.reminders_sent < len(thresholds) and spent >= thresholds[clock.reminders_sent]:
        sent = clock.reminders_sent + 1
        while sent < len(thresholds) and spent >= thresholds[sent]:  # slept through several: one reminder
            sent += 1
        return Alarm(sent, replace(clock, reminders_sent=sent))
    return None

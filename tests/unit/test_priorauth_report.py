"""The prior-authorization figures, against requests with known outcomes and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.priorauth_report import (
    APPROVED,
    DENIED,
    PARTIAL,
    DecidedRequest,
    outcome_of,
    summarise,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _request(tenant, hours, *outcomes, expedited=False, received=T0, amended_after=24):
    first = received + timedelta(hours=hours)
    decisions = [(first, outcomes[0])] + [(first + timedelta(hours=amended_after * n), o)
                                          for n, o in enumerate(outcomes[1:], start=1)]
    return DecidedRequest(tenant, expedited, received, tuple(decisions))


@pytest.mark.parametrize("actions, outcome", [
    ([1, 1], APPROVED), ([3], DENIED), ([1, 3], PARTIAL), ([2], PARTIAL), ([1, 2], PARTIAL), ([3, 3], DENIED)])
def test_a_decisions_outcome_is_read_from_its_items(actions, outcome):
    assert outcome_of(actions) == outcome


def test_the_figures_per_tenant_from_known_outcomes_and_times():
    requests = [
        # payer-a, standard: 10 requests decided after 10, 20, ..., 100 hours.
        *[_request("payer-a", 10 * n, APPROVED) for n in range(1, 8)],
        _request("payer-a", 80, DENIED),
        _request("payer-a", 90, DENIED, APPROVED),  # approved on appeal
        _request("payer-a", 100, PARTIAL),
        # payer-a, expedited: 2, 4 and 60 hours.
        _request("payer-a", 2, APPROVED, expedited=True), _request("payer-a", 4, DENIED, expedited=True),
        _request("payer-a", 60, PARTIAL, APPROVED, expedited=True),
        _request("payer-a", 1, APPROVED, APPROVED, expedited=True, received=T0 + timedelta(days=2)),  # not "after"
        # payer-b: one standard denial.
        _request("payer-b", 30, DENIED),
        # Outside the period: decided before it, and after it.
        _request("payer-a", 1, APPROVED, received=T0 - timedelta(days=30)),
        _request("payer-a", 5, APPROVED, received=T0 + timedelta(days=60)),
    ]
    a, b = summarise(requests, T0, T0 + timedelta(days=31))
    assert (a.tenant_id, a.requests, a.approved, a.denied, a.partially_approved, a.approved_after_amendment) == (
        "payer-a", 14, 9, 3, 2, 2)
    assert a.share(a.approved) == pytest.approx(9 / 14) and a.share(a.approved_after_amendment) == pytest.approx(2 / 14)
    assert a.standard.requests == 10 and a.standard.mean_hours == pytest.approx(55.0)
    assert a.standard.p90_hours == pytest.approx(90.0)  # nearest rank: the 9th of 10
    assert a.expedited.requests == 4 and a.expedited.mean_hours == pytest.approx(67 / 4)
    assert a.expedited.p90_hours == pytest.approx(60.0)
    assert (b.tenant_id, b.requests, b.denied, b.share(b.denied), b.expedited.mean_hours) == (
        "payer-b", 1, 1, 1.0, None)
    # A request counts in the period of its first decision, whenever it was amended.
    assert summarise(requests, T0 + timedelta(days=60), T0 + timedelta(days=61))[0].requests == 1

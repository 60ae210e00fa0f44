"""The prior-authorization figures a payer publishes (CMS-0057-F), from the decisions
review announced: pure, no I/O (the CLI's `secondlook report prior-auth` and intake's
Prometheus metrics share these definitions).

A request counts in a period when its first decision falls in it. Its outcome is its
first decision's: approved (every item certified, A1), denied (every item not
certified, A3) or partly approved (anything between: some items denied, modified
or approved). It is "approved after an amended decision" when its first decision
did not approve it and its decision that stands is an amendment (a
reconsideration, an appeal) certifying every item.
Time to decision runs from the request's receipt by intake to its first decision;
the p90 is the nearest-rank 90th percentile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

APPROVED, DENIED, PARTIAL = "approved", "denied", "partially_approved"
_APPROVE, _DENY = 1, 3  # case_pb2.ItemAction


def outcome_of(actions: Iterable[int]) -> str:
    """A decision's outcome from its items' actions (case_pb2.ItemAction)."""
    found = set(actions)
    if found == {_APPROVE}:
        return APPROVED
    if found == {_DENY}:
        return DENIED
    return PARTIAL


@dataclass(frozen=True)
class DecidedRequest:
    """One request as the report reads it: no PHI, codes and times."""
    tenant_id: str
    expedited: bool
    received_at: datetime
    decisions: tuple[tuple[datetime, str], ...]  # (announced at, outcome), the first first

    @property
    def outcome(self) -> str:
        return self.decisions[0][1]

    @property
    def approved_after_amendment(self) -> bool:
        return len(self.decisions) > 1 and self.decisions[-1][1] == APPROVED and self.outcome != APPROVED

    @property
    def seconds_to_decision(self) -> float:
        return max(0.0, (self.decisions[0][0] - self.received_at).total_seconds())


@dataclass(frozen=True)
class Timing:
    requests: int
    mean_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class TenantFigures:
    tenant_id: str
    requests: int
    approved: int
    denied: int
    partially_approved: int
    approved_after_amendment: int
    standard: Timing
    expedited: Timing

    def share(self, count: int) -> float:
        return count / self.requests if self.requests else 0.0


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _timing(requests: list[DecidedRequest]) -> Timing:
    hours = [r.seconds_to_decision / 3600 for r in requests]
    if not hours:
        return Timing(0, None, None)
    return Timing(len(hours), sum(hours) / len(hours), _p90(hours))


def summarise(requests: Iterable[DecidedRequest], start: datetime, end: datetime) -> list[TenantFigures]:
    """Per tenant (by id), the figures of the requests first decided in [start, end)."""
    by_tenant: dict[str, list[DecidedRequest]] = {}
    for r in requests:
        if r.decisions and start <= r.decisions[0][0] < end:
            by_tenant.setdefault(r.tenant_id, []).append(r)
    out = []
    for tenant_id in sorted(by_tenant):
        found = by_tenant[tenant_id]
        out.append(TenantFigures(
            tenant_id=tenant_id, requests=len(found),
            approved=sum(r.outcome == APPROVED for r in found), denied=sum(r.outcome == DENIED for r in found),
            partially_approved=sum(r.outcome == PARTIAL for r in found),
            approved_after_amendment=sum(r.approved_after_amendment for r in found),
            standard=_timing([r for r in found if not r.expedited]),
            expedited=_timing([r for r in found if r.expedited])))
    return out

"""A tenant's webhook endpoints (Standard Webhooks): where notices go, which event
types each one subscribes to, its signing secrets and whether it still receives.

A tenant may have several endpoints. Each subscribes to event types (none
listed: every type). Rotating a secret keeps the previous one signing for an
overlap window, so a receiver can switch at its own pace: while it lasts, every
notice carries both signatures (`v1,<new> v1,<old>`), and a receiver holding
either secret verifies it. An endpoint whose deliveries keep dying is disabled
(an operations event says so); its tenant enables it again once it is fixed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets as _secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .routing import EVENT_TYPES
from .webhooks import registration_violations

TEST_EVENT = "webhook.test"  # SendTestEvent's notice: sent whatever the subscription
MAX_ENDPOINTS = 10  # per tenant
MAX_DESCRIPTION = 200
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
MAX_SIGNING_SECRETS = 3  # the current one and at most two still in their overlap
MAX_REASON = 200


@dataclass(frozen=True)
class Secret:
    value: str = field(repr=False)  # "whsec_...": never in a log line or a traceback
    expires_at: datetime | None = None  # a previous secret: signs until then


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    tenant_id: str
    url: str
    secrets: tuple[Secret, ...]  # the current one first
    event_types: tuple[str, ...] = ()  # empty: every event type
    description: str = ""
    created_at: datetime | None = None
    created_by: str = ""
    rotated_at: datetime | None = None
    disabled_reason: str = ""  # empty while enabled
    consecutive_dead: int = 0  # deliveries that died since the last one delivered
    default: bool = False  # the one RegisterWebhook replaces
    version: int = 0  # bumped by every change its tenant makes: two at once cannot both land

    @property
    def enabled(self) -> bool:
        return not self.disabled_reason

    @property
    def secret(self) -> str:
        return self.secrets[0].value

    def subscribes(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def receives(self, event_type: str) -> bool:
        return self.enabled and self.subscribes(event_type)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, then those whose overlap has not ended."""
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]

    def previous_expires_at(self, now: datetime) -> datetime | None:
        """When the last previous secret stops signing (None: no overlap under way)."""
        return max((s.expires_at for s in self.secrets[1:] if s.expires_at and s.expires_at > now), default=None)

    def rotated(self, new_secret: str, now: datetime, overlap: timedelta) -> Endpoint:
        """A new current secret; the old one signs too until `now + overlap`."""
        previous = [dataclasses.replace(self.secrets[0], expires_at=now + overlap)] if overlap > timedelta(0) else []
        still = [s for s in self.secrets[1:] if s.expires_at is not None and s.expires_at > now]
        kept = (previous + still)[:MAX_SIGNING_SECRETS - 1]
        return dataclasses.replace(self, secrets=(Secret(new_secret), *kept), rotated_at=now)

    def disabled(self, reason: str) -> Endpoint:
        return dataclasses.replace(self, disabled_reason=reason or "disabled")

    def enabled_again(self) -> Endpoint:
        return dataclasses.replace(self, disabled_reason="", consecutive_dead=0)


def new_endpoint_id() -> str:
    return "ep_" + _secrets.token_hex(12)


def default_endpoint_id(tenant_id: str) -> str:
    """The id of the endpoint RegisterWebhook manages: one per tenant, the same each time."""
    return "ep_" + hashlib.sha256(f"default:{tenant_id}".encode()).hexdigest()[:24]


def check_endpoint(url: str, event_types: list[str], description: str, allow_insecure: bool
                   ) -> list[tuple[str, str]]:
    """Every violation of a new endpoint's fields, by field."""
    violations = list(registration_violations(url, allow_insecure))
    for i, event_type in enumerate(event_types):
        if event_type not in EVENT_TYPES:
            violations.append((f"event_types[{i}]", f"must be one of {', '.join(EVENT_TYPES)}"))
    if len(set(event_types)) != len(event_types):
        violations.append(("event_types", "must not repeat a type"))
    if len(description) > MAX_DESCRIPTION:
        violations.append(("description", f"must be at most {MAX_DESCRIPTION} characters"))
    if description and not description.isprintable():
        violations.append(("description", "must be printable text on one line"))
    return violations


def check_overlap(overlap_seconds: int) -> tuple[timedelta, list[tuple[str, str]]]:
    """The overlap a rotation asks for (0: the default), or why it may not have it."""
    if overlap_seconds < 0 or overlap_seconds > MAX_OVERLAP.total_seconds():
        return DEFAULT_OVERLAP, [("overlap_seconds", f"must be between 0 (the default, "
                                  f"{int(DEFAULT_OVERLAP.total_seconds())}) and {int(MAX_OVERLAP.total_seconds())}")]
    return (timedelta(seconds=overlap_seconds) if overlap_seconds else DEFAULT_OVERLAP), []


def check_reason(reason: str) -> list[tuple[str, str]]:
    if len(reason) > MAX_REASON or (reason and not reason.isprintable()):
        return [("reason", f"must be printable text of at most {MAX_REASON} characters")]
    return []


def should_disable(endpoint: Endpoint, disable_after_dead: int) -> bool:
    """Whether the endpoint's deliveries have died often enough in a row to stop sending."""
    return endpoint.enabled and disable_after_dead > 0 and endpoint.consecutive_dead >= disable_after_dead

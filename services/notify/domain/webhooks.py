"""Standard Webhooks (standardwebhooks.com): signing, secrets and retry timing.

A signature is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with
the base64-decoded part of a `whsec_...` secret. The webhook id stays the same
across retries so receivers can drop repeats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from secondlook.addresses import internal_host_problem

SECRET_PREFIX = "whsec_"


def check_endpoint_url(url: str, allow_insecure: bool) -> list[tuple[str, str]]:
    """Where a tenant may point notices: https on a public address, unless the
    deployment allows insecure targets (development). An IP literal in a
    loopback, private or link-local range would let a tenant make the platform
    call its own internals. A host name is checked here by its spelling only;
    what it resolves to is checked at registration and at every connection
    (services/notify/targets.py)."""
    if any(not "!" <= ch <= "~" for ch in url):
        return [("url", "must be printable ASCII without spaces (percent-encode or punycode the rest)")]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return [("url", "is not a valid URL")]
    if parts.scheme not in ("http", "https") or not host:
        return [("url", "must be an absolute http(s) URL")]
    if parts.port == 0:
        return [("url", "must not name port 0 (no receiver listens there)")]
    if len(url) > 2048:
        return [("url", "must be at most 2048 characters")]
    if allow_insecure:
        return []
    if parts.scheme != "https":
        return [("url", "must use https")]
    if problem := internal_host_problem(host):
        return [("url", problem)]
    return []


def registration_violations(url: str, allow_insecure: bool) -> list[tuple[str, str]]:
    """check_endpoint_url, and for a URL registered from now on: no credentials in it
    (they are listed back to the tenant and logged by proxies; each notice is signed).
    Not at send time: an endpoint registered with them before still gets its notices."""
    try:
        parts = urlsplit(url)
        credentials = parts.username is not None or parts.password is not None
    except ValueError:
        credentials = False
    if credentials:
        return [("url", "must not carry credentials (user:password@): each notice is signed with the endpoint's "
                        "secret")]
    return check_endpoint_url(url, allow_insecure)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secret must start with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX):])


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: str | list[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers; with several secrets (a rotation's overlap) one
    signature per secret, space-separated: a receiver holding any of them verifies."""
    keys = [secrets] if isinstance(secrets, str) else secrets
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, webhook_id, timestamp, body) for s in keys),
        "content-type": "application/json",
    }


def notice_body(*, event_type: str, occurred_at: str, case_id: str, tenant_id: str, event_id: str, status: str,
                facts: dict) -> bytes:
    """The notice a tenant receives. Thin on purpose: ids, the status the event set
    and coded facts (domain/routing.py); the tenant reads the case itself over the
    authenticated API."""
    return json.dumps(
        {"type": event_type, "timestamp": occurred_at,
         "data": {**facts, "case_id": case_id, "tenant_id": tenant_id, "event_id": event_id, "status": status}},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def notice_time(body: bytes) -> datetime | None:
    """When the event a notice tells of happened (its `timestamp`), or None."""
    try:
        return datetime.fromisoformat(json.loads(body)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return None


def with_claim_response(body: bytes, claim_response: dict) -> bytes:
    """The notice of a prior authorization's decision with its ClaimResponse (as $inquire's
    answer starts: no patient's name or identifier) in `data.claim_response`, read when
    it is sent."""
    notice = json.loads(body)
    notice["data"]["claim_response"] = claim_response
    return json.dumps(notice, separators=(",", ":"), sort_keys=True).encode()


def webhook_test_body(*, tenant_id: str, endpoint_id: str, webhook_id: str, occurred_at: str) -> bytes:
    """SendTestEvent's notice: proves the endpoint receives and verifies; about no case."""
    return json.dumps(
        {"type": "webhook.test", "timestamp": occurred_at,
         "data": {"tenant_id": tenant_id, "endpoint_id": endpoint_id, "webhook_id": webhook_id}},
        separators=(",", ":"), sort_keys=True,
    ).encode()


RETRY_MAX_WAIT_SECONDS = 3600.0  # between two attempts: a receiver down for hours is tried hourly, not given up


def retry_delay(attempt: int, base: float = 1.0, cap: float = RETRY_MAX_WAIT_SECONDS,
                rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal" jitter after failed attempt number `attempt`
    (1-based): between half and all of `base * 2**(attempt-1)`, capped. Unlike full
    jitter, each wait is at least as long as the one before could have been, so the
    waits grow, while replicas retrying together still spread out."""
    rng = rng or random
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)

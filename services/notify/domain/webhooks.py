"""Standard Webhooks (standardwebhooks.com): signing, secrets and retry timing.

A signature is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with
the base64-decoded part of a `whsec_...` secret. The webhook id stays the same
across retries so receivers can drop repeats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
from datetime import datetime
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which a translator
# or relay on the way (NAT64 on an IPv6-only cluster, 6to4) turns into that IPv4
# address: the address they carry is the one checked.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, the well-known prefix
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765/6145 (SIIT): "IPv4-translated"
# Refused whatever they carry: local-use NAT64 (RFC 8215: embedded at any of several
# lengths, for a network's own translators) and the deprecated IPv4-compatible form.
_REFUSED_V6 = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::/96"))
# Not public, though Python's `is_global` says so (its registry lags): site-local IPv6
# (deprecated, still routed inside some networks), IPv6 documentation (RFC 9637), SRv6
# segment ids (RFC 9602), and the IETF protocol assignments block of IPv4.
_NOT_PUBLIC = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("3fff::/20"), ipaddress.ip_network("5f00::/16"),
               ipaddress.ip_network("192.0.0.0/24"))


def address_allowed(address: str) -> bool:
    """Whether notices may be sent to this IP address: a public one only, never
    loopback, private, link-local (cloud metadata), CGNAT, multicast or
    reserved, in whatever form it is written (IPv4 carried in IPv6 included:
    mapped, translated, NAT64, 6to4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _REFUSED_V6):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64 or ip in _TRANSLATED:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast and not any(ip.version == net.version and ip in net
                                                            for net in _NOT_PUBLIC)


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
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return [("url", "must not point at this platform's own network")]
    address = _literal_address(name)
    if address is not None and not address_allowed(str(address)):
        return [("url", "must not point at a loopback, private or link-local address")]
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


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host name spells literally, in any form a resolver accepts
    (127.1, 2130706433 and 0x7f000001 are all 127.0.0.1); None for a real name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # pure parsing, no lookup
    except OSError:
        return None


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

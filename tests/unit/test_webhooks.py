import json
import random

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from secondlook.addresses import address_allowed
from services.notify.domain.webhooks import (
    check_endpoint_url,
    headers,
    new_secret,
    notice_body,
    registration_violations,
    retry_delay,
)
from services.notify.targets import PublicOnlyResolver, TargetRefused, check_host


def _body():
    return notice_body(event_type="case.opinion_ready", case_id="c1", tenant_id="t1", event_id="e1",
                       occurred_at="2026-11-26T00:00:00+00:00", status="OPINION_READY",
                       facts={"diagnosis_concordance": "SAME", "treatment_concordance": "REFINED"})


def test_signatures_verify_with_the_reference_library():
    import time

    secret = new_secret()
    assert secret.startswith("whsec_")
    body = _body()
    payload = Webhook(secret).verify(body, headers(secret, "msg_1", int(time.time()), body))
    assert payload["data"]["case_id"] == "c1"


def test_a_tampered_body_or_another_secret_fails_verification():
    import time

    secret = new_secret()
    body = _body()
    h = headers(secret, "msg_1", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"SAME", b"DIFFERENT"), h)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, h)


def test_the_notice_carries_ids_and_codes_only():
    data = json.loads(_body())["data"]
    assert set(data) == {"case_id", "tenant_id", "event_id", "status", "diagnosis_concordance",
                         "treatment_concordance"}


def test_retry_delay_is_jittered_exponential_and_capped():
    rng = random.Random(3)
    assert all(0.5 <= retry_delay(1, rng=rng) <= 1.0 for _ in range(50))
    assert max(retry_delay(4, rng=rng) for _ in range(200)) > 7.0
    assert len({round(retry_delay(4, rng=rng), 6) for _ in range(20)}) > 1  # jittered
    assert all(1800.0 <= retry_delay(30, rng=rng) <= 3600.0 for _ in range(50))  # an hour at most


def test_the_default_attempts_span_half_a_day_to_a_day_so_a_receiver_down_overnight_loses_nothing():
    from secondlook.settings import Settings

    fields = Settings.model_fields
    attempts, base = fields["delivery_max_attempts"].default, fields["delivery_retry_base_seconds"].default
    shortest = sum(retry_delay(n, base=base, rng=_Edge(0.0)) for n in range(1, attempts))
    longest = sum(retry_delay(n, base=base, rng=_Edge(1.0)) for n in range(1, attempts))
    assert 12 * 3600 <= shortest and longest <= 25 * 3600


class _Edge:
    """A jitter always at one end of its range."""

    def __init__(self, at: float):
        self._at = at

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._at


def test_retry_delays_grow_whatever_the_jitter():
    rng = random.Random(5)
    for _ in range(200):
        waits = [retry_delay(n, base=0.1, rng=rng) for n in range(1, 8)]
        assert waits == sorted(waits)


@pytest.mark.parametrize("url, rule", [
    ("https://hooks.example-hospital.org/secondlook", None),
    ("https://93.184.215.14/hook", None),
    ("http://hooks.example-hospital.org/secondlook", "https"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://10.1.2.3/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[::1]/hook", "loopback"),
    ("https://localhost/hook", "localhost"),
    ("https://hooks.corp.internal/hook", "private-use domain"),
    ("https://receiver.tenant.svc.cluster.local/hook", "private-use domain"),
    ("https://hooks/hook", "one label"),
    ("https://localhost./hook", "localhost"),
    ("https://127.1/hook", "loopback"),
    ("https://2130706433/hook", "loopback"),
    ("https://0x7f000001/hook", "loopback"),
    ("https://0/hook", "loopback"),
    ("ftp://example.org/x", "http(s)"),
    ("https://user:secret@hooks.example-hospital.org/x", "credentials"),
    ("https://token@hooks.example-hospital.org/x", "credentials"),
    ("/relative", "http(s)"),
    ("https://example.org:99999/", "valid URL"),
    ("https://example.org:0/", "port 0"),
])
def test_endpoint_urls_must_be_public_https(url, rule):
    violations = registration_violations(url, allow_insecure=False)
    if rule is None:
        assert violations == []
    else:
        [(field, description)] = violations
        assert field == "url" and rule in description


def test_development_may_allow_local_http_receivers():
    assert check_endpoint_url("http://127.0.0.1:8080/hook", allow_insecure=True) == []
    assert check_endpoint_url("ftp://127.0.0.1/", allow_insecure=True) != []


class _FakeDNS:
    """Answers every name with the given addresses, as a poisoned or inward-pointing DNS would."""

    def __init__(self, *addresses):
        self.addresses = addresses

    async def resolve(self, host, port=0, family=0):
        return [{"hostname": host, "host": a, "port": port, "family": 2, "proto": 6, "flags": 0}
                for a in self.addresses]

    async def close(self):
        pass


INWARD = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "::1", "::ffff:127.0.0.1", "fd00::1",
          "224.0.0.1",
          # IPv4 carried in IPv6, which a NAT64 or 6to4 relay on the way delivers to that IPv4 address
          "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "2002:a00:1::1", "2002:a9fe:a9fe::1",
          "::ffff:0:a9fe:a9fe", "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
          "fec0::1", "3fff::1", "5f00::1", "192.0.0.8",  # site-local, documentation, SRv6, IETF's block
          # refused whatever they carry: local-use NAT64, the deprecated IPv4-compatible form
          "64:ff9b:1::808:808", "::808:808", "::7f00:1"]


@pytest.mark.parametrize("address", INWARD)
def test_an_address_inward_is_refused_in_every_form_it_is_written(address):
    assert not address_allowed(address)
    assert check_endpoint_url(f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook",
                              False) != []


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:220:1::1", "64:ff9b::808:808", "2002:808:808::1",
                                     "::ffff:0:808:808"])
def test_a_public_address_is_allowed_also_through_nat64_or_6to4(address):
    assert address_allowed(address)


@pytest.mark.parametrize("address", INWARD)
async def test_a_name_resolving_inward_is_refused_at_registration(address):
    assert await check_host("hooks.example.com", 443, False, _FakeDNS(address)) is not None
    assert await check_host("hooks.example.com", 443, True, _FakeDNS(address)) is None  # development


async def test_a_connection_goes_only_to_the_public_addresses_checked():
    guard = PublicOnlyResolver(False, _FakeDNS("10.0.0.5", "93.184.215.14"))
    assert [r["host"] for r in await guard.resolve("hooks.example.com", 443)] == ["93.184.215.14"]
    with pytest.raises(TargetRefused):
        await PublicOnlyResolver(False, _FakeDNS("127.0.0.1")).resolve("hooks.example.com", 443)


@pytest.mark.parametrize("url", ["https://hooks.example.com/a b", "https://hooks.example.com/\r\nX-Evil: 1",
                                 "https://hooks.example.com/\x00", "https://hóoks.example.com/"])
def test_urls_with_spaces_controls_or_non_ascii_are_refused(url):
    assert check_endpoint_url(url, allow_insecure=True) != []


def test_credentials_are_refused_when_a_url_is_registered_but_an_endpoint_registered_with_them_before_is_served():
    url = "https://user:secret@hooks.example-hospital.org/x"
    assert registration_violations(url, allow_insecure=True) != []  # in development too
    assert check_endpoint_url(url, allow_insecure=False) == []  # at send time: its notices still go out

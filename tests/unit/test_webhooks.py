import json
import random

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notify.domain.webhooks import (
    headers,
    new_secret,
    opinion_ready_body,
    retry_delay,
)


def _body():
    return opinion_ready_body(case_id="c1", tenant_id="t1", event_id="e1", occurred_at="2026-11-26T00:00:00+00:00",
                              diagnosis_concordance="SAME", treatment_concordance="REFINED")


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
    assert all(0 <= retry_delay(1, rng=rng) <= 1.0 for _ in range(50))
    assert max(retry_delay(4, rng=rng) for _ in range(200)) > 4.0
    assert all(retry_delay(30, rng=rng) <= 300.0 for _ in range(50))

"""Webhook endpoints against the real store and a real HTTP receiver that checks
every signature with the reference `standardwebhooks` library: several endpoints
per tenant, a secret rotation (during its overlap and after it), retries with
growing waits, deaths in a row disabling an endpoint with operations events, and
secrets sealed at rest."""

from __future__ import annotations

import asyncio

import pytest
from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure
from standardwebhooks.webhooks import Webhook

from devstack.receiver import WebhookReceiver
from secondlook.clock import Clock, FakeClock
from secondlook.events import decode, new_event
from secondlook.phi import PhiCipher
from secondlook.store import OUTBOX, Store
from secondlook.unitofwork import transactor
from secondlook.v1 import case_pb2, events_pb2
from services.notify import repository, usecases
from services.notify.dispatcher import Dispatcher
from services.notify.domain.deliveries import DEAD, DELIVERED
from services.notify.repository import (
    DELIVERIES,
    ENDPOINTS,
    CachedEndpoints,
    MongoDeliveries,
    MongoDeliveryQueue,
    MongoEndpoints,
    NotifyUnitOfWork,
)
from tests.conftest import eventually

pytestmark = pytest.mark.integration


class Notify:
    """notify's parts wired as __main__ wires them, on a test's store and clock."""

    def __init__(self, settings, store: Store, cipher: PhiCipher, clock, **dispatcher_options):
        self.store, self.clock = store, clock
        self.endpoints = CachedEndpoints(MongoEndpoints(store.db, cipher), ttl_seconds=60)
        self.dispatcher = Dispatcher(transactor(store, lambda uow: NotifyUnitOfWork(uow, cipher)),
                                     MongoDeliveryQueue(store.db), self.endpoints, clock, timeout=5,
                                     allow_insecure_targets=True, **dispatcher_options)
        self._task: asyncio.Task | None = None

    async def __aenter__(self):
        self._task = asyncio.create_task(self.dispatcher.run())
        return self

    async def __aexit__(self, *exc):
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def create(self, url: str, **fields):
        async def public(host, port):
            return None
        return await usecases.create_endpoint(self.endpoints, public, self.clock, tenant_id="t1", created_by="admin",
                                              url=url, event_types=fields.get("event_types", []),
                                              description="", allow_insecure=True)

    async def opinion(self, case_id: str):
        event = new_event(events_pb2.OpinionSubmitted(assignment_id="a", specialist_id="s", opinion_id="o",
                                                      diagnosis_concordance=case_pb2.CONCORDANCE_SAME,
                                                      treatment_concordance=case_pb2.CONCORDANCE_SAME),
                          case_id=case_id, tenant_id="t1", producer="review")
        await usecases.record_notices(MongoDeliveries(self.store.db), self.endpoints, [event], self.clock,
                                      self.dispatcher.send_now, self.dispatcher.fresh_lease_seconds)
        return event

    async def escalations(self) -> list:
        rows = await self.store.db[OUTBOX].find({"type": {"$in": ["delivery.dead", "endpoint.disabled"]}}) \
            .sort("created_at", 1).to_list()
        return [decode(bytes(r["payload"])) for r in rows]


@pytest.fixture
async def parts(infra_settings, tmp_path):
    store = Store(infra_settings, "notify")
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)
    vault = f"kv_{abs(hash(tmp_path)) % 10**10}"
    settings = infra_settings.model_copy(update={"phi_key_vault_namespace": f"{vault}.datakeys"})
    cipher = PhiCipher(settings, store.client, "notify-webhook-secrets")
    await cipher.ensure_key()
    receivers = [WebhookReceiver(), WebhookReceiver()]
    for r in receivers:
        await r.start()
    yield settings, store, cipher, receivers
    for r in receivers:
        await r.stop()
    await cipher.close()
    await store.client.drop_database(store.db.name)
    await store.client.drop_database(vault)
    await store.close()


def _case_ids(receiver: WebhookReceiver) -> list[str]:
    return [p["data"]["case_id"] for p in receiver.verified]


async def test_two_endpoints_each_verify_their_notice_through_a_rotation_and_after_its_overlap(parts):
    settings, store, cipher, (first, second) = parts
    clock = FakeClock()
    async with Notify(settings, store, cipher, clock, max_attempts=3) as notify:
        one = await notify.create(first.url)
        two = await notify.create(second.url, event_types=["case.opinion_ready"])
        first.secret, second.secret = one.secret, two.secret
        await notify.opinion("c1")
        await eventually(lambda: _async(len(first.verified) == 1 and len(second.verified) == 1), 10,
                         "each endpoint verifying the first notice")
        assert first.requests[0]["headers"]["webhook-id"] != second.requests[0]["headers"]["webhook-id"]

        rotated = await usecases.rotate_secret(notify.endpoints, clock, tenant_id="t1", endpoint_id=one.endpoint_id,
                                               overlap_seconds=3600)
        await notify.opinion("c2")  # the receiver still holds the old secret: the overlap covers it
        await eventually(lambda: _async(_case_ids(first) == ["c1", "c2"]), 10, "c2 verified with the old secret")
        during = first.requests[-1]
        assert len(during["headers"]["webhook-signature"].split(" ")) == 2
        assert Webhook(rotated.secret).verify(during["body"], during["headers"])  # and with the new one

        first.secret = rotated.secret  # the receiver switches when it likes
        await notify.opinion("c3")
        await eventually(lambda: _async(_case_ids(first) == ["c1", "c2", "c3"]), 10, "c3 with the new secret")

        clock.advance(3601)  # the overlap is over: the old secret no longer signs
        await notify.opinion("c4")
        await eventually(lambda: _async(_case_ids(first) == ["c1", "c2", "c3", "c4"]), 10, "c4 after the overlap")
        after = first.requests[-1]
        assert len(after["headers"]["webhook-signature"].split(" ")) == 1
        with pytest.raises(Exception, match="No matching signature"):
            Webhook(one.secret).verify(after["body"], after["headers"])
        assert first.rejected == 0 and second.rejected == 0
        assert _case_ids(second) == ["c1", "c2", "c3", "c4"]

    # At rest the secrets are ciphertext; what the tenant was given opens from it.
    for doc in await store.db[ENDPOINTS].find({}).to_list():
        for secret in doc["secrets"]:
            assert isinstance(secret["value"], Binary) and secret["value"].subtype == 6
            assert b"whsec_" not in bytes(secret["value"])
    assert {e.secret for e in await MongoEndpoints(store.db, cipher).of_tenant("t1")} == {rotated.secret, two.secret}


async def test_a_receiver_failing_at_first_is_retried_with_growing_waits_and_one_always_failing_is_disabled(parts):
    settings, store, cipher, (flaky, down) = parts
    base = 0.2
    async with Notify(settings, store, cipher, Clock(), max_attempts=4, retry_base_seconds=base,
                      disable_after_dead=2) as notify:
        ok = await notify.create(flaky.url)
        broken = await notify.create(down.url)
        flaky.secret, down.secret = ok.secret, broken.secret
        flaky.refuse_with, flaky.refuse_count = 503, 3
        down.refuse_with = 500
        await notify.opinion("c1")
        await eventually(lambda: _async(len(flaky.verified) == 1), 20, "the flaky receiver taking the notice")
        times = [r["at"] for r in flaky.requests]
        assert len(times) == 4 and len({r["headers"]["webhook-id"] for r in flaky.requests}) == 1
        waits = [b - a for a, b in zip(times, times[1:], strict=False)]
        # Never before its time: between half and all of base * 2**(n-1) after failure n.
        assert [w >= base * 2 ** n / 2 * 0.95 for n, w in enumerate(waits)] == [True] * 3, waits

        await eventually(lambda: _async(len(down.requests) == 4), 20, "the broken receiver's four attempts")
        await notify.opinion("c2")
        await eventually(lambda: _async(len(down.requests) == 8), 20, "the second notice's four attempts")
        escalations = await eventually(lambda: _at_least(notify.escalations(), 3), 20, "the escalations")
        assert sorted(e.type for e in escalations) == ["delivery.dead", "delivery.dead", "endpoint.disabled"]
        escalations.sort(key=lambda e: e.type)  # one transaction's events share a time
        assert {e.delivery_dead.endpoint_id for e in escalations[:2]} == {broken.endpoint_id}
        assert escalations[0].delivery_dead.last_error == "receiver answered HTTP 500"
        assert escalations[2].endpoint_disabled.endpoint_id == broken.endpoint_id
        listed = {e.endpoint_id: e for e in await usecases.list_endpoints(notify.endpoints, "t1")}
        assert not listed[broken.endpoint_id].enabled and listed[ok.endpoint_id].enabled
        assert listed[broken.endpoint_id].consecutive_dead == 2

        await notify.opinion("c3")  # a disabled endpoint is not sent to any more
        await eventually(lambda: _async(_case_ids(flaky) == ["c1", "c2", "c3"]), 10, "c3 at the healthy endpoint")
        assert len(down.requests) == 8

        async def recorded():  # the receiver has c3 a moment before notify records it
            statuses = sorted(d["status"] for d in await store.db[DELIVERIES].find({}).to_list())
            return statuses if statuses == sorted([DELIVERED] * 3 + [DEAD] * 2) else None

        await eventually(recorded, 10, "three deliveries recorded delivered, two dead")
        # c1 failed three times first: its log keeps them, but nothing is wrong with it now.
        first = await store.db[DELIVERIES].find_one({"case_id": "c1"})
        assert first["status"] == DELIVERED and "last_error" not in first
        assert [a["status_code"] for a in first["log"]] == [503, 503, 503, 204]


async def _async(value):
    return value


async def _at_least(rows, n: int):
    found = await rows
    return found if len(found) >= n else None


async def test_an_endpoint_of_the_one_endpoint_model_becomes_the_default_one_sealed_once(parts):
    settings, store, cipher, _ = parts
    old_secret = "whsec_" + "A" * 43 + "="
    await store.db[ENDPOINTS].insert_one({"_id": "t-old", "url": "https://hooks.example.org/old", "secret": old_secret,
                                          "registered_by": "admin@t-old"})
    assert await repository.migrate_endpoints(store.db, cipher) == 1
    [migrated] = await MongoEndpoints(store.db, cipher).of_tenant("t-old")
    assert (migrated.url, migrated.secret, migrated.default) == ("https://hooks.example.org/old", old_secret, True)
    raw = await store.db[ENDPOINTS].find_one({"_id": migrated.endpoint_id})
    assert isinstance(raw["secrets"][0]["value"], Binary) and await store.db[ENDPOINTS].count_documents({}) == 1
    # The tenant changes it; a second run (another replica, a restart mid-migration) changes nothing.
    async def public(host, port):
        return None
    endpoints = CachedEndpoints(MongoEndpoints(store.db, cipher), ttl_seconds=60)
    changed = await usecases.register_webhook(endpoints, public, FakeClock(), tenant_id="t-old", registered_by="a",
                                              url="https://hooks.example.org/new", allow_insecure=True)
    await store.db[ENDPOINTS].insert_one({"_id": "t-old", "url": "https://hooks.example.org/old", "secret": old_secret})
    assert await repository.migrate_endpoints(store.db, cipher) == 1
    [now] = await MongoEndpoints(store.db, cipher).of_tenant("t-old")
    assert (now.url, now.secret) == ("https://hooks.example.org/new", changed.secret)


async def test_endpoints_created_all_at_once_never_pass_the_tenants_limit(parts):
    settings, store, cipher, receivers = parts
    notify = Notify(settings, store, cipher, FakeClock(), max_attempts=3)
    await notify.create(receivers[0].url)  # one there before

    async def create(n):
        try:
            return await notify.create(f"{receivers[0].url}?n={n}")
        except usecases.TooManyEndpoints:
            return None

    created = await asyncio.gather(*(create(n) for n in range(3 * usecases.MAX_ENDPOINTS)))
    assert sum(e is not None for e in created) == usecases.MAX_ENDPOINTS - 1
    assert len(await MongoEndpoints(store.db, cipher).of_tenant("t1")) == usecases.MAX_ENDPOINTS


async def test_a_creation_whose_endpoint_cannot_be_written_gives_its_place_back(parts, monkeypatch):
    settings, store, cipher, receivers = parts
    notify = Notify(settings, store, cipher, FakeClock(), max_attempts=3)
    for n in range(usecases.MAX_ENDPOINTS - 1):
        await notify.create(f"{receivers[0].url}?n={n}")
    real = AsyncCollection.insert_one

    async def failing(self, document, *args, **kwargs):
        if self.name == repository.ENDPOINTS:
            raise ConnectionFailure("the store went away mid-creation")
        return await real(self, document, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "insert_one", failing)
    with pytest.raises(ConnectionFailure):
        await notify.create(f"{receivers[0].url}?n=lost")
    monkeypatch.setattr(AsyncCollection, "insert_one", real)
    assert await notify.create(f"{receivers[0].url}?n=last") is not None  # the tenant's tenth
    with pytest.raises(usecases.TooManyEndpoints):
        await notify.create(f"{receivers[0].url}?n=eleventh")

"""The store's write rules against the real server: every write is acknowledged by
a majority and journaled, and a unit of work never retries for longer than its bound."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import OperationFailure, PyMongoError

from secondlook.store import Store

pytestmark = pytest.mark.integration


async def test_every_write_is_majority_acknowledged_and_journaled(store):
    assert store.client.write_concern.document == {"w": "majority", "j": True}
    assert store.db.write_concern.document == {"w": "majority", "j": True}


async def test_a_unit_of_work_that_keeps_conflicting_gives_up_at_its_bound(infra_settings):
    """The driver alone retries a transaction on transient errors for 120 s."""
    store = Store(infra_settings.model_copy(update={"mongo_transaction_timeout_seconds": 1.0}), "intake")
    attempts = 0

    async def always_conflicting(uow):
        nonlocal attempts
        attempts += 1
        await uow.db.cases.insert_one({"n": attempts}, session=uow.session)
        raise OperationFailure("write conflict", 112, {"errorLabels": ["TransientTransactionError"]})

    try:
        with pytest.raises(PyMongoError):
            await asyncio.wait_for(store.transact(always_conflicting), timeout=30)  # a guard, not a measurement
        assert attempts > 1  # it was retried, within the bound
        assert await store.db.cases.count_documents({}) == 0  # and nothing of it committed
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


class Taken(Exception):
    """What a reused key means to the test's caller."""


async def test_inserts_of_a_group_commit_go_in_one_request_and_a_duplicate_fails_only_its_own_body(infra_settings):
    from tests.integration.store_requests import StoreRequests

    requests = StoreRequests()
    store = Store(infra_settings, "intake", listeners=(requests,))
    await store.db["things"].create_index("key", unique=True)
    try:
        def adding(key: str, n: int):
            async def body(uow):
                uow.insert_later("things", {"_id": f"{key}-{n}", "key": key}, Taken(key))
                return n
            return body

        await store.db["things"].insert_one({"_id": "warm", "key": "warm"})
        requests.clear()
        results = await asyncio.gather(*(store.transact(adding(f"k{n}", n)) for n in range(12)))
        assert results == list(range(12))
        inserts = requests.on[("insert", "things")]
        assert await store.db["things"].count_documents({}) == 13
        assert inserts < 12, f"{inserts} insert requests for 12 bodies: not grouped"

        # The same key twice (and others) at once: only the second of the pair is refused,
        # and it is not taken for a store failure (no scan of every outbox shard).
        store.scan_every_shard = False
        outcomes = await asyncio.gather(*(store.transact(adding(key, n)) for n, key in
                                          enumerate(["dup", "x1", "dup", "x2", "x3"])), return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], Taken) and refused[0].args == ("dup",)
        assert store.scan_every_shard is False
        assert await store.db["things"].count_documents({"key": {"$in": ["dup", "x1", "x2", "x3"]}}) == 4
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


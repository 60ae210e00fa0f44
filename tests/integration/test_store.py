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

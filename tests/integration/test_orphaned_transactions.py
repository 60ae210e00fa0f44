"""A process killed mid-transaction leaves the transaction open on the store,
its documents locked. The restarted instance of the same name aborts it at
start (Store.reap_orphans), so its cases move on at once instead of waiting
for the store to reap it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pymongo
import pytest

from secondlook.store import Store

pytestmark = pytest.mark.integration

# Runs a transaction that writes the document, records its session as a
# service's Store does, and dies with SIGKILL before committing.
DIES_MID_TRANSACTION = textwrap.dedent("""
    import asyncio, os, signal, sys
    from secondlook.settings import Settings
    from secondlook.store import Store

    async def main():
        store = Store(Settings(mongo_uri=sys.argv[1], mongo_database_prefix=sys.argv[2], instance_id="worker-1"),
                      "intake")
        async with store.client.start_session() as session:
            await store._record_session(session)
            await session.start_transaction()
            await store.db.cases.update_one({"_id": "c1"}, {"$set": {"by": "the dead"}}, session=session)
            print("written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def _write(store: Store) -> None:
    async def body(uow):
        await uow.db.cases.update_one({"_id": "c1"}, {"$set": {"by": "the living"}}, session=uow.session)

    await store.transact(body)


async def test_a_restarted_instance_aborts_what_its_predecessor_left_open(infra_settings):
    settings = infra_settings.model_copy(update={"instance_id": "worker-1", "mongo_transaction_timeout_seconds": 2})
    store = Store(settings, "intake")
    try:
        await store.db.cases.insert_one({"_id": "c1"})
        dead = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-c", DIES_MID_TRANSACTION, settings.mongo_uri, settings.mongo_database_prefix],
            capture_output=True, text=True, timeout=60)
        assert dead.returncode == -9 and "written" in dead.stdout, dead.stderr[-2000:]

        # The orphan holds the document: a writer conflicts until it gives up.
        with pytest.raises(pymongo.errors.PyMongoError):
            await _write(store)

        assert await store.reap_orphans() >= 1  # what a restart does first
        await _write(store)
        assert (await store.db.cases.find_one({"_id": "c1"}))["by"] == "the living"
        assert await store.reap_orphans() == 0  # the registry starts afresh
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()

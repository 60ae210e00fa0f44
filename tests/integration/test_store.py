"""The store's write rules against the real server: every write is acknowledged by
a majority and journaled, and a unit of work never retries for longer than its bound."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import OperationFailure, PyMongoError

from secondlook.store import Store, long_operation

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


async def test_a_store_that_stops_answering_fails_a_request_at_the_socket_timeout_not_never(infra, infra_settings):
    """A connection the store holds open but no longer answers on (a hung host, a network
    partition): the request fails as a connection failure (UNAVAILABLE to a caller)."""
    from pymongo.errors import AutoReconnect

    target = infra.mongo_uri.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0]
    host, port = target.rsplit(":", 1)
    frozen = asyncio.Event()

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                if frozen.is_set():
                    await asyncio.Event().wait()  # never forwarded: the store "stops answering"
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def relay(client_reader, client_writer):
        store_reader, store_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, store_writer), pipe(store_reader, client_writer))

    proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    settings = infra_settings.model_copy(update={
        "mongo_uri": f"mongodb://127.0.0.1:{proxy_port}/?directConnection=true",
        "mongo_socket_timeout_seconds": 1.0})
    store = Store(settings, "intake")
    try:
        await store.db["probe"].insert_one({"_id": 1})  # answered while the store answers
        frozen.set()
        started = asyncio.get_running_loop().time()
        with pytest.raises(AutoReconnect):  # NetworkTimeout is one
            async with asyncio.timeout(20):
                await store.db["probe"].find_one({"_id": 1})
        assert asyncio.get_running_loop().time() - started < 15  # the socket timeout, not a wait for ever
        # What may rightly take long (an index build at start-up) is bounded by its own, longer timeout.
        started = asyncio.get_running_loop().time()
        with pytest.raises(PyMongoError):
            async with asyncio.timeout(20):
                with long_operation(4):
                    await store.db["probe"].find_one({"_id": 1})
        assert asyncio.get_running_loop().time() - started >= 3.5
    finally:
        await store.client.close()
        proxy.close()

"""Integration fixtures: the real embedded broker and store, on free ports, for the session."""

from __future__ import annotations

import uuid

import pytest

from devstack.stack import Stack
from secondlook.settings import Settings  # noqa: F401 (fixture type)
from secondlook.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def infra(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("infra"))
    stack.start_broker()
    stack.start_store()
    yield stack
    stack.stop()


@pytest.fixture
def infra_settings(infra) -> Settings:
    # A database per test keeps tests independent on one store.
    return infra.settings(mongo_database_prefix=f"it_{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def store(infra_settings):
    store = Store(infra_settings, "intake")
    await store.ensure_indexes()
    yield store
    await store.client.drop_database(store.db.name)
    await store.close()

"""Notification preferences against the real store and the in-memory fake alike:
versioned replacement, the tenant's mark that people of its scope have preferences,
and a notice's read that costs nothing where nobody has any."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from secondlook.store import Store
from services.notify.domain.preferences import TENANT, Preferences, QuietHours
from services.notify.preference_repository import CachedPreferences, MongoPreferences
from tests.fakes.notify import InMemoryPreferences

pytestmark = pytest.mark.integration

NIGHT = QuietHours(time(21), time(8), "America/New_York")


class CountingStore(MongoPreferences):
    def __init__(self, db):
        super().__init__(db)
        self.reads = 0

    async def read(self, keys):
        self.reads += 1
        return await super().read(keys)


@pytest.fixture(params=["fake", "mongo"])
async def repository(request, infra_settings):
    if request.param == "fake":
        yield InMemoryPreferences()
        return
    store = Store(infra_settings, "notify-preferences")
    yield MongoPreferences(store.db)
    await store.client.drop_database(store.db.name)
    await store.close()


def _wish(kind=TENANT, subject_id="", **fields) -> Preferences:
    return Preferences(scope="t1", kind=kind, subject_id=subject_id, updated_by="admin",
                       updated_at=datetime(2026, 11, 27, tzinfo=UTC), **fields)


async def test_preferences_are_replaced_whole_under_their_version(repository):
    first = await repository.put(_wish(muted_channels=("sms",), language="es", quiet_hours=NIGHT), 0)
    assert (first.version, first.muted_channels, first.language, first.quiet_hours) == (1, ("sms",), "es", NIGHT)
    assert await repository.get("t1", TENANT) == first
    assert await repository.put(_wish(), expected_version=5) is None  # read long ago: refused
    second = await repository.put(_wish(language="fr"), expected_version=1)
    assert (second.version, second.muted_channels, second.quiet_hours, second.language) == (2, (), None, "fr")
    assert await repository.get("t1", "patient", "c1") is None
    assert await repository.put(_wish("patient", "c1"), expected_version=3) is None  # not there: nothing to guard


async def test_a_first_write_with_no_version_that_meets_another_replaces_it(infra_settings, monkeypatch):
    # 0 means "replace whatever is there": two first writes at once never answer "changed meanwhile".
    store = Store(infra_settings, "notify-preferences-race")
    try:
        repository, real = MongoPreferences(store.db), AsyncCollection.find_one_and_update
        raced = []

        async def meeting_another(self, *args, **kwargs):
            if raced:
                return await real(self, *args, **kwargs)
            raced.append("the other write")  # lands between this one's read and its insert
            raced.append(await MongoPreferences(store.db).put(_wish("physician", "1234567893", language="es"), 0))
            raise DuplicateKeyError("E11000 duplicate key error")

        monkeypatch.setattr(AsyncCollection, "find_one_and_update", meeting_another)
        saved = await repository.put(_wish("physician", "1234567893", language="fr"), 0)
        assert raced[1].version == 1 and (saved.version, saved.language) == (2, "fr")
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


async def test_a_first_write_with_no_version_the_store_answers_with_nothing_is_written_again(infra_settings,
                                                                                             monkeypatch):
    # Seen on the embedded store under a race: an upsert applied, and answered with no document.
    store = Store(infra_settings, "notify-preferences-none")
    try:
        repository, real, answered = MongoPreferences(store.db), AsyncCollection.find_one_and_update, []

        async def answering_nothing(self, *args, **kwargs):
            doc = await real(self, *args, **kwargs)
            answered.append(doc)
            return None if len(answered) == 1 else doc

        monkeypatch.setattr(AsyncCollection, "find_one_and_update", answering_nothing)
        saved = await repository.put(_wish("physician", "1234567893", language="fr"), 0)
        assert saved is not None and saved.language == "fr" and saved.version == 2
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


async def test_a_notice_reads_a_person_only_where_someone_has_preferences(infra_settings):
    store = Store(infra_settings, "notify-preferences-cache")
    try:
        counting = CountingStore(store.db)
        cached = CachedPreferences(counting, ttl_seconds=60)
        assert await cached.for_notice("t1", "patient", "c1") == (None, None)
        assert await cached.for_notice("t1", "patient", "c2") == (None, None)
        assert counting.reads == 1  # the tenant's (absent) document, then from memory
        await cached.put(_wish(quiet_hours=NIGHT), 0)
        person, tenant = await cached.for_notice("t1", "patient", "c1")
        assert person is None and tenant.quiet_hours == NIGHT and counting.reads == 2
        patient = await cached.put(_wish("patient", "c1", muted_channels=("email",)), 0)
        assert patient.version == 1
        person, tenant = await cached.for_notice("t1", "patient", "c1")
        assert person.muted_channels == ("email",) and tenant.version == 1  # the mark did not touch the tenant's
        assert (await cached.for_notice("t1", "patient", "c2"))[0] is None
        reads = counting.reads
        await cached.for_notice("t1", "patient", "c1")
        assert counting.reads == reads  # all from memory now
        # A tenant with only the mark has no preferences of its own.
        await cached.put(Preferences(scope="t2", kind="physician", subject_id="1234567893", updated_by="x"), 0)
        assert (await cached.for_notice("t2", "physician", "1234567893"))[1] is None
        assert await MongoPreferences(store.db).get("t2", TENANT) is None
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()

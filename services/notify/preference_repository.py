"""notify's MongoDB adapter for notification preferences, and the cache a notice reads.

One document per tenant (its defaults) and per person, keyed
"<scope>|<kind>|<id>". A tenant's document also says whether any person of its
scope has preferences at all, so a notice to a person of a tenant where nobody
has any costs no read beyond the tenant's, which stays in memory.
"""

from __future__ import annotations

import time
from datetime import time as clock_time
from typing import Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .domain.preferences import TENANT, Preferences, QuietHours, preference_key

PREFERENCES = "notification_preferences"
CACHE_SIZE = 10_000


class PreferenceRepository(Protocol):
    async def get(self, scope: str, kind: str, subject_id: str = "") -> Preferences | None: ...
    async def put(self, preferences: Preferences, expected_version: int) -> Preferences | None: ...
    async def for_notice(self, scope: str, kind: str, subject_id: str
                         ) -> tuple[Preferences | None, Preferences | None]: ...


def _doc(p: Preferences) -> dict:
    quiet = p.quiet_hours
    return {"scope": p.scope, "kind": p.kind, "subject_id": p.subject_id, "muted_channels": list(p.muted_channels),
            "language": p.language, "updated_at": p.updated_at, "updated_by": p.updated_by,
            "quiet_hours": {"start": f"{quiet.start:%H:%M}", "end": f"{quiet.end:%H:%M}",
                            "time_zone": quiet.time_zone} if quiet else None}


def _preferences(doc: dict) -> Preferences | None:
    if "version" not in doc:  # only the tenant's marker that people of its scope have preferences
        return None
    quiet = doc.get("quiet_hours")
    return Preferences(
        scope=doc["scope"], kind=doc["kind"], subject_id=doc.get("subject_id", ""),
        muted_channels=tuple(doc.get("muted_channels", ())), language=doc.get("language", ""),
        quiet_hours=QuietHours(clock_time.fromisoformat(quiet["start"]), clock_time.fromisoformat(quiet["end"]),
                               quiet["time_zone"]) if quiet else None,
        updated_at=doc.get("updated_at"), updated_by=doc.get("updated_by", ""), version=doc["version"])


class MongoPreferences:
    def __init__(self, db: AsyncDatabase):
        self._db = db

    async def get(self, scope: str, kind: str, subject_id: str = "") -> Preferences | None:
        doc = await self._db[PREFERENCES].find_one({"_id": preference_key(scope, kind, subject_id)})
        return _preferences(doc) if doc else None

    async def put(self, preferences: Preferences, expected_version: int) -> Preferences | None:
        """Replaces them (at `expected_version` unless 0); None when they changed meanwhile."""
        key = preferences.key
        if preferences.kind != TENANT:  # first: a reader never finds a person's without the tenant saying so
            await self._db[PREFERENCES].update_one(
                {"_id": preference_key(preferences.scope, TENANT)},
                {"$set": {"people": True, "scope": preferences.scope, "kind": TENANT}}, upsert=True)
        query = {"_id": key} if not expected_version else {"_id": key, "version": expected_version}
        for _ in range(5):
            try:
                doc = await self._db[PREFERENCES].find_one_and_update(
                    query, {"$set": _doc(preferences), "$inc": {"version": 1}}, upsert=not expected_version,
                    return_document=ReturnDocument.AFTER)
            except DuplicateKeyError:  # two first writes at once: the other inserted them, so
                continue               # replacing whatever is there now replaces those
            if doc is None and not expected_version:
                continue  # an upsert answered with nothing (the embedded store, under a race): write again
            return _preferences(doc) if doc else None
        return None

    async def read(self, keys: list[str]) -> dict[str, dict]:
        return {d["_id"]: d async for d in self._db[PREFERENCES].find({"_id": {"$in": keys}})}


class CachedPreferences:
    """Preferences as notices read them: the tenant's (with its "people" mark) and a
    person's, each kept `ttl_seconds`; a change through this replica takes effect at
    once, through another within `ttl_seconds`."""

    def __init__(self, store: MongoPreferences, ttl_seconds: float, monotonic=time.monotonic):
        self._store = store
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cached: dict[str, tuple[float, dict | None]] = {}

    async def get(self, scope: str, kind: str, subject_id: str = "") -> Preferences | None:
        return await self._store.get(scope, kind, subject_id)

    async def put(self, preferences: Preferences, expected_version: int) -> Preferences | None:
        try:
            return await self._store.put(preferences, expected_version)
        finally:
            self._cached.pop(preferences.key, None)
            self._cached.pop(preference_key(preferences.scope, TENANT), None)

    async def for_notice(self, scope: str, kind: str, subject_id: str
                         ) -> tuple[Preferences | None, Preferences | None]:
        """(the person's, the tenant's)."""
        tenant_key = preference_key(scope, TENANT)
        tenant = await self._docs([tenant_key])
        tenant_doc = tenant[tenant_key]
        person = None
        if tenant_doc is not None and tenant_doc.get("people"):
            person_key = preference_key(scope, kind, subject_id)
            person = (await self._docs([person_key]))[person_key]
        return (_preferences(person) if person else None), (_preferences(tenant_doc) if tenant_doc else None)

    async def _docs(self, keys: list[str]) -> dict[str, dict | None]:
        now = self._monotonic()
        found = {k: hit[1] for k in keys if (hit := self._cached.get(k)) is not None and now < hit[0]}
        missing = [k for k in keys if k not in found]
        if missing:
            read = await self._store.read(missing)
            if len(self._cached) >= CACHE_SIZE:
                self._cached.clear()
            for k in missing:
                found[k] = read.get(k)
                self._cached[k] = (now + self._ttl, found[k])
        return found

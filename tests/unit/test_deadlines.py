"""The deadline keeper: what falls due when, and the loop that fires it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from secondlook.clock import Clock, FakeClock
from secondlook.deadlines import Deadlines
from tests.conftest import eventually


def test_keys_fall_due_soonest_first_and_stay_armed_until_done():
    clock = FakeClock()
    t0 = clock.now()
    d = Deadlines(clock)
    d.arm("late", t0 + timedelta(seconds=30))
    d.arm("soon", t0 + timedelta(seconds=10))
    d.arm("gone", t0 + timedelta(seconds=5))
    d.disarm("gone")
    d.arm("moved", t0 + timedelta(seconds=1))
    d.arm("moved", t0 + timedelta(seconds=20))  # armed again: the later time counts
    assert d.due(t0 + timedelta(seconds=9)) == []
    assert d.due(t0 + timedelta(seconds=25)) == ["soon", "moved"]
    assert d.due(t0 + timedelta(seconds=25)) == ["soon", "moved"]  # not done: due again (a retry)
    d.arm("moved", t0 + timedelta(seconds=40))  # re-armed while it fired: it stays
    d.done(["soon", "moved"], t0 + timedelta(seconds=25))
    assert "soon" not in d and "moved" in d and len(d) == 2
    assert d.due(t0 + timedelta(seconds=100), limit=1) == ["late"]


def test_whether_a_key_of_one_kind_is_armed():
    clock = FakeClock()
    d = Deadlines(clock)
    assert not d.armed_with("waiting:")
    d.arm("offer-1", clock.now())
    assert not d.armed_with("waiting:")
    d.arm("waiting:c1", clock.now())
    assert d.armed_with("waiting:")
    d.disarm("waiting:c1")
    assert not d.armed_with("waiting:")


async def test_the_keeper_rearms_what_is_stored_fires_what_is_due_and_retries_a_failure():
    clock = Clock()
    d = Deadlines(clock)
    now = clock.now()
    fired: list[list[str]] = []
    failures = [RuntimeError("store away")]

    async def load():
        return [("stored-overdue", now - timedelta(seconds=5)), ("stored-later", now + timedelta(hours=1))]

    async def fire(keys):
        if failures:
            raise failures.pop()
        fired.append(keys)

    keeper = asyncio.create_task(d.run(load, fire, reload_seconds=3600))
    try:
        await eventually(lambda: _settled(fired == [["stored-overdue"]]), 10, "the overdue deadline to fire")
        d.arm("new", clock.now() + timedelta(milliseconds=50))  # sooner than the keeper sleeps for: it wakes
        await eventually(lambda: _settled(fired[-1:] == [["new"]]), 10, "the new deadline to fire")
        assert "stored-later" in d and "stored-overdue" not in d and "new" not in d
    finally:
        keeper.cancel()


async def test_the_keeper_reloads_what_the_store_holds_so_a_deadline_armed_elsewhere_falls_due_here():
    clock = Clock()
    d = Deadlines(clock)
    stored: list[tuple[str, object]] = []
    loads: list[int] = []
    fired: list[str] = []

    async def load():
        loads.append(len(stored))
        return list(stored)

    async def fire(keys):
        fired.extend(keys)
        stored[:] = [(k, at) for k, at in stored if k not in keys]  # the store's guarded transition

    keeper = asyncio.create_task(d.run(load, fire, reload_seconds=0.2))
    try:
        await eventually(lambda: _settled(loads), 10, "the first load")
        stored.append(("another-replicas", clock.now()))  # committed elsewhere: never armed here
        await eventually(lambda: _settled(fired == ["another-replicas"]), 10, "the reload to find it")
    finally:
        keeper.cancel()


async def _settled(value):
    return value

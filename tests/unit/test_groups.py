"""The one group-commit helper (secondlook/groups.py), with a plain fake runner."""

from __future__ import annotations

import asyncio

import pytest

from secondlook.groups import Groups


async def test_what_arrives_while_groups_run_goes_together_in_the_next_and_each_gets_its_outcome():
    gate = asyncio.Event()
    groups_run: list[list[int]] = []

    async def run(items):
        groups_run.append(items)
        await gate.wait()
        return [ValueError(f"item {i}: odd") if i % 2 else i * 10 for i in items]

    groups = Groups(run, limit=1, max_size=4)
    submitted = [asyncio.ensure_future(groups.submit(i)) for i in range(7)]
    await asyncio.sleep(0)  # let every submit join the queue
    gate.set()
    outcomes = await asyncio.gather(*submitted, return_exceptions=True)
    assert groups_run == [[0], [1, 2, 3, 4], [5, 6]]  # one alone, then at most four together
    assert outcomes[0::2] == [0, 20, 40, 60]
    assert all(isinstance(o, ValueError) and f"item {i}" in str(o) for i, o in enumerate(outcomes) if i % 2)


async def test_a_group_cancelled_midway_counts_nothing_as_done():
    started = asyncio.Event()

    async def run(items):
        started.set()
        await asyncio.Event().wait()  # never finishes by itself
        return items

    groups = Groups(run, limit=1, max_size=10)
    waiting = asyncio.ensure_future(groups.submit("record"))
    await started.wait()
    [running] = groups.close()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

"""The dev stack's embedded store runs where `store_cpus` says (README, "The embedded
stack"), every thread of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.stack import store_cpus

pytestmark = pytest.mark.integration


def test_every_thread_of_the_store_runs_on_its_cpu(infra):
    pid = infra.store.popen.pid
    expected = set(store_cpus()) or os.sched_getaffinity(0)
    placed = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            placed[int(task.name)] = os.sched_getaffinity(int(task.name))
        except ProcessLookupError:  # a closed connection's thread, gone meanwhile
            continue
    assert len(placed) > 1  # the main thread and the server's own (accept, TTL sweeps, ...)
    assert placed == {tid: expected for tid in placed}

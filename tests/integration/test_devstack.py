"""The dev stack's embedded store runs where `store_cpus` says (README, "The embedded
store on one CPU"), every thread of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.stack import store_cpus

pytestmark = pytest.mark.integration


def test_every_thread_of_the_store_runs_on_its_cpu(infra):
    pid = infra.store.popen.pid
    expected = set(store_cpus()) or os.sched_getaffinity(0)
    threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    assert len(threads) > 1  # its server and connection threads, not only the main one
    assert {tid: os.sched_getaffinity(tid) for tid in threads} == {tid: expected for tid in threads}

"""Where the dev stack runs the embedded store: on one CPU of those it may use."""

from __future__ import annotations

from devstack import stack


def test_a_process_without_cpus_runs_as_given():
    assert stack._on_cpus(["python", "-m", "secantus"], ()) == ["python", "-m", "secantus"]


def test_a_process_with_cpus_starts_under_taskset(monkeypatch):
    monkeypatch.setattr(stack.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(stack.sys, "platform", "linux")
    assert stack._on_cpus(["python", "-m", "secantus"], (3,)) == [
        "/usr/bin/taskset", "--cpu-list", "3", "python", "-m", "secantus"]


def test_without_taskset_nothing_is_pinned(monkeypatch):
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    assert stack._on_cpus(["python"], (1,)) == ["python"]


def test_the_store_gets_the_last_cpu_of_several(monkeypatch):
    monkeypatch.setattr(stack.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(stack.os, "sched_getaffinity", lambda pid: {4, 0, 2}, raising=False)
    assert stack.store_cpus() == (4,)


def test_with_one_cpu_the_store_is_not_pinned(monkeypatch):
    monkeypatch.setattr(stack.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(stack.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert stack.store_cpus() == ()


def test_without_taskset_the_store_is_not_pinned(monkeypatch):
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    monkeypatch.setattr(stack.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert stack.store_cpus() == ()

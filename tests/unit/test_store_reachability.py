"""secondlook_store_reachable follows whether the driver knows a primary to write to."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import REGISTRY

from secondlook.store import _Reachability


def _changed(writable: bool):
    return SimpleNamespace(new_description=SimpleNamespace(has_writable_server=lambda: writable))


def test_the_gauge_says_whether_a_primary_is_known_not_whether_every_member_answers():
    listener = _Reachability("reach-test")

    def gauge():
        return REGISTRY.get_sample_value("secondlook_store_reachable", {"service": "reach-test"})

    listener.description_changed(_changed(True))
    assert gauge() == 1
    listener.description_changed(_changed(False))  # the primary stopped answering, or an election
    assert gauge() == 0
    listener.description_changed(_changed(True))  # a secondary down leaves a writable primary: 1
    assert gauge() == 1

"""A consumer loop's readiness: in its group only while joined and its group's
coordinator is known (kafka-python keeps a member STABLE after losing it)."""

from __future__ import annotations

from types import SimpleNamespace

from kafka.structs import MemberState

from secondlook.consumerloop import ConsumerLoop


def _loop(state, coordinator_id) -> ConsumerLoop:
    loop = object.__new__(ConsumerLoop)  # the property reads the client only
    loop._kafka = SimpleNamespace(group_metadata=lambda: SimpleNamespace(state=state),
                                  _coordinator=SimpleNamespace(coordinator_id=coordinator_id))
    return loop


def test_a_member_is_in_its_group_only_while_its_coordinator_is_known():
    assert _loop(MemberState.STABLE, 1).in_group
    lost = _loop(MemberState.STABLE, None)  # "Marking the coordinator dead": still STABLE
    assert lost.joined and not lost.in_group
    assert not _loop(MemberState.REBALANCING, 1).in_group
    nothing = object.__new__(ConsumerLoop)
    nothing._kafka = None
    assert not nothing.in_group


def test_a_client_that_keeps_its_coordinator_elsewhere_is_in_its_group_when_joined():
    loop = object.__new__(ConsumerLoop)
    loop._kafka = SimpleNamespace(group_metadata=lambda: SimpleNamespace(state=MemberState.STABLE))
    assert loop.in_group  # never "not ready for good" over a renamed private attribute

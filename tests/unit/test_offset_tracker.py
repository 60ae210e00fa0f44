"""The consumer loop's offset books: commit in order, never past a record in hand."""

from kafka import TopicPartition

from secondlook.consumerloop import OffsetTracker

P0 = TopicPartition("t", 0)
P1 = TopicPartition("t", 1)


def test_nothing_is_committable_before_anything_is_handed_out():
    assert OffsetTracker().committable() == {}


def test_the_commit_stops_at_the_lowest_record_still_in_hand():
    books = OffsetTracker()
    for offset in (10, 11, 12, 13):
        books.add(P0, offset)
    books.done(P0, 10)
    books.done(P0, 12)  # finished out of order: 11 is still in hand
    books.done(P0, 13)
    assert books.committable() == {P0: 11}
    books.done(P0, 11)
    assert books.committable() == {P0: 14}


def test_partitions_are_booked_apart_and_only_moved_ones_are_committed_again():
    books = OffsetTracker()
    books.add(P0, 5)
    books.add(P1, 7)
    books.done(P1, 7)
    assert books.committable() == {P0: 5, P1: 8}
    books.mark_committed({P0: 5, P1: 8})
    assert books.committable() == {}
    books.done(P0, 5)
    assert books.committable() == {P0: 6}


def test_a_revoked_partition_is_forgotten():
    books = OffsetTracker()
    books.add(P0, 1)
    assert books.in_hand(P0) == 1
    books.forget(P0)
    assert books.in_hand(P0) == 0
    assert books.committable() == {}
    books.mark_committed({P0: 3})  # a late commit result for a partition no longer ours
    assert books.committable() == {}

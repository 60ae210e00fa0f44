"""Which service produces and consumes which topic: declared here once.

The services read their own entries (__main__), the dev stack reads the
services and their start order, and the tests hold README.md's topic table and
deploy/k8s's KafkaTopics to it. Every service also consumes the redrive topic
(the kernel subscribes it: its partitions are the relay's shards) and may
write to the dead-letter topic.
"""

from __future__ import annotations

from secondlook.topics import DEAD_LETTER, REDRIVE, events_topic

SERVICES = ("intake", "matching", "review", "notify")  # in start order

PRODUCES = {service: events_topic(service) for service in SERVICES}

CONSUMES: dict[str, tuple[str, ...]] = {
    # the system of record: every downstream stage event moves a case's status
    "intake": (PRODUCES["matching"], PRODUCES["review"], PRODUCES["notify"]),
    # cases to match; an opinion gives the specialist's slot back
    "matching": (PRODUCES["intake"], PRODUCES["review"]),
    # offers land in the specialist's inbox; records added resume a review waiting on them
    "review": (PRODUCES["matching"], PRODUCES["intake"]),
    # every stage of a case is a notice to someone (services/notify/domain/routing.py)
    "notify": (PRODUCES["intake"], PRODUCES["matching"], PRODUCES["review"]),
}

ALL_TOPICS = (*PRODUCES.values(), REDRIVE, DEAD_LETTER)

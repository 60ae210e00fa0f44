"""Versioned topic names, and ensuring they exist with the intended shape.

One topic per producing service keeps a case's events from that service in
order (they are keyed by case id). A breaking change to an event means a new
`.v2` topic beside the old one, never a silent change of the old.
"""

from __future__ import annotations

import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from secondlook.bus import client_config
from secondlook.settings import Settings

# Control traffic every service consumes, and where poison events go.
REDRIVE = "secondlook.control.redrive.v1"
DEAD_LETTER = "secondlook.deadletter.v1"


def events_topic(service: str) -> str:
    """Where a service publishes its events (which service reads which topic is
    declared in services/topology.py)."""
    return f"secondlook.{service}.events.v1"


def ensure_topics(settings: Settings, topics: tuple[str, ...], timeout: float = 15.0) -> list[str]:
    """Creates the missing topics and returns once all exist; returns the names it created.

    Services start together and race to create the same topics, so each topic
    is created on its own (one "already exists" must not hide the others) and
    the function only returns when the broker lists every one of them: a
    consumer that subscribed before a topic existed would not see it for a
    whole metadata refresh. Blocking (kafka-python): call it via asyncio.to_thread.
    """
    admin = KafkaAdminClient(**client_config(settings, "secondlook-topics"), request_timeout_ms=10_000)
    created: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            missing = [t for t in topics if t not in set(admin.list_topics())]
            if not missing:
                return created
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics still missing after {timeout:.0f}s: {', '.join(missing)}")
            for topic in missing:
                try:
                    admin.create_topics(
                        [NewTopic(topic, settings.kafka_topic_partitions, settings.kafka_replication_factor)]
                    )
                    created.append(topic)
                except TopicAlreadyExistsError:
                    pass  # another service won the race, which is all we want
            time.sleep(0.1)
    finally:
        admin.close()

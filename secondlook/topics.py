"""Versioned topic names, and ensuring they exist with the intended shape.

One topic per producing service keeps a case's events from that service in
order (they are keyed by case id). A breaking change to an event means a new
`.v2` topic beside the old one, never a silent change of the old.
"""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from secondlook.settings import Settings

INTAKE_EVENTS = "secondlook.intake.events.v1"
MATCHING_EVENTS = "secondlook.matching.events.v1"
REVIEW_EVENTS = "secondlook.review.events.v1"
NOTIFY_EVENTS = "secondlook.notify.events.v1"
REDRIVE = "secondlook.control.redrive.v1"
DEAD_LETTER = "secondlook.deadletter.v1"

ALL_TOPICS = (INTAKE_EVENTS, MATCHING_EVENTS, REVIEW_EVENTS, NOTIFY_EVENTS, REDRIVE, DEAD_LETTER)

# Where each service publishes its events.
EVENTS_TOPIC_OF = {
    "intake": INTAKE_EVENTS,
    "matching": MATCHING_EVENTS,
    "review": REVIEW_EVENTS,
    "notify": NOTIFY_EVENTS,
}


def ensure_topics(settings: Settings, topics: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    """Creates the missing topics; returns the names it created.

    Blocking (kafka-python): call it through asyncio.to_thread from async code.
    """
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        security_protocol=settings.kafka_security_protocol,
        client_id="secondlook-topics",
        request_timeout_ms=10_000,
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(t, settings.kafka_topic_partitions, settings.kafka_replication_factor)
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another service won the race: the topic is there, which is all we want
        return missing
    finally:
        admin.close()

import asyncio

import pytest
from kafka import KafkaConsumer

from secondlook.topics import ensure_topics
from services.topology import ALL_TOPICS

pytestmark = pytest.mark.integration


def _partitions(bootstrap: str, topic: str) -> set[int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return consumer.partitions_for_topic(topic) or set()
    finally:
        consumer.close()


async def test_topics_are_ensured_with_the_intended_partitions_and_only_once(infra_settings):
    settings = infra_settings.model_copy(update={"kafka_topic_partitions": 3})
    topic = f"it.topics.{settings.mongo_database_prefix}"
    created = await asyncio.to_thread(ensure_topics, settings, (topic,))
    assert created == [topic]
    assert await asyncio.to_thread(ensure_topics, settings, (topic,)) == []
    assert await asyncio.to_thread(_partitions, settings.kafka_bootstrap_servers, topic) == {0, 1, 2}


def test_topic_names_are_versioned():
    assert all(t.startswith("secondlook.") and t.endswith(".v1") for t in ALL_TOPICS)

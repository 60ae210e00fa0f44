"""Reads what landed on a topic, for assertions (kafka-python, no consumer group)."""

from __future__ import annotations

import asyncio

from kafka import KafkaConsumer, TopicPartition


def _read(bootstrap: str, topic: str, timeout: float) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=500)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return list(consumer)
    finally:
        consumer.close()


async def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list:
    return await asyncio.to_thread(_read, bootstrap, topic, timeout)


def _committed(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, partition))
    finally:
        consumer.close()


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int | None:
    """The group's committed offset on one partition (None before any commit)."""
    return await asyncio.to_thread(_committed, bootstrap, group, topic, partition)

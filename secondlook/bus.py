"""The event bus: Kafka clients (kafka-python), configured in one place.

`client_config`, `producer_config` and `consumer_config` are the only places
Kafka client settings are assembled; the publisher, the consumer loop and the
topic admin all take theirs from here.

kafka-python is blocking, so each publish goes through asyncio.to_thread; one
thread at a time touches the producer. Publishing is at-least-once by design:
every consumer is idempotent, so a repeat is harmless and a loss is not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.partitioner.default import murmur2

from secondlook.settings import Settings

_ASSIGNORS = {
    "cooperative-sticky": CooperativeStickyAssignor,
    "range": RangePartitionAssignor,
    "roundrobin": RoundRobinPartitionAssignor,
}


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key` on a topic of `partitions`
    partitions: the same case maps to the same partition number on every topic."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def client_config(settings: Settings, client_id: str) -> dict:
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
        "security_protocol": settings.kafka_security_protocol,
        "client_id": client_id,
    }


# kafka-python's own metrics (sensors recorded on every request, batch and byte): nothing
# reads them, the services' Prometheus metrics say what operations need, and recording
# them cost ~3% of a consuming service's CPU.
NO_CLIENT_METRICS = {"metrics_enabled": False}


def producer_config(settings: Settings, client_id: str) -> dict:
    return {
        **client_config(settings, client_id),
        **NO_CLIENT_METRICS,
        "acks": "all",
        "enable_idempotence": settings.kafka_enable_idempotence,
        "linger_ms": 2,
        "retries": 3,
        "request_timeout_ms": 10_000,
        "max_block_ms": 10_000,
    }


def consumer_config(settings: Settings, group: str) -> dict:
    config = {
        **client_config(settings, f"{group}-consumer"),
        **NO_CLIENT_METRICS,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "partition_assignment_strategy": (_ASSIGNORS[settings.kafka_consumer_assignment_strategy],),
        "max_poll_interval_ms": settings.kafka_consumer_max_poll_interval_ms,
        "session_timeout_ms": settings.kafka_consumer_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_consumer_heartbeat_interval_ms,
        "fetch_max_wait_ms": settings.kafka_consumer_fetch_max_wait_ms,
        "max_poll_records": 500,
        # Notice topics created after we subscribed (e.g. by a broker that
        # restarted empty) within seconds, not the default five minutes.
        "metadata_max_age_ms": 5_000,
    }
    if settings.kafka_consumer_static_membership:
        config["group_instance_id"] = f"{group}-{settings.instance_id}"
    return config


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class KafkaPublisher:
    def __init__(self, settings: Settings, client_id: str):
        self._settings = settings
        self._client_id = client_id
        self._producer: KafkaProducer | None = None
        self._lock = asyncio.Lock()

    def _producer_now(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(**producer_config(self._settings, self._client_id))
        return self._producer

    @property
    def connected(self) -> bool:
        """A producer that has reached the cluster and whose last publish did not
        fail (a failure discards it; the relay's retry connects a new one)."""
        return self._producer is not None

    async def connect(self, topic: str) -> None:
        """Connects now and fetches `topic`'s metadata, rather than at the first
        publish: readiness waits for it."""
        async with self._lock:
            try:
                await asyncio.to_thread(lambda: self._producer_now().partitions_for(topic))
            except Exception:
                await asyncio.to_thread(self._discard)
                raise

    def _send_all(self, records: list[Record]) -> None:
        producer = self._producer_now()
        futures = [producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records]
        producer.flush(timeout=15)
        for f in futures:
            f.get(timeout=15)  # raises the broker's error for any record that did not land

    async def publish(self, records: list[Record]) -> None:
        """Returns once every record is acknowledged by the broker (acks=all)."""
        if not records:
            return
        async with self._lock:
            try:
                await asyncio.to_thread(self._send_all, records)
            except Exception:
                # A producer that saw the broker vanish keeps stale state (producer
                # ids, metadata); start the next attempt from a fresh one.
                await asyncio.to_thread(self._discard)
                raise

    def _discard(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            finally:
                self._producer = None

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._discard)

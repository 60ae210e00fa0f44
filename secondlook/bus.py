"""The event bus: publishing to Kafka with kafka-python.

kafka-python is blocking, so each batch goes through asyncio.to_thread; one
thread at a time touches the producer. Publishing is at-least-once by design:
every consumer is idempotent, so a repeat is harmless and a loss is not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kafka import KafkaProducer

from secondlook.settings import Settings


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

    def _connect(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers.split(","),
            security_protocol=self._settings.kafka_security_protocol,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=self._settings.kafka_enable_idempotence,
            linger_ms=2,
            retries=3,
            request_timeout_ms=10_000,
            max_block_ms=10_000,
        )

    def _send_all(self, records: list[Record]) -> None:
        if self._producer is None:
            self._producer = self._connect()
        futures = [
            self._producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records
        ]
        self._producer.flush(timeout=15)
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

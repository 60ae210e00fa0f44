"""matching runs as a faust-streaming app: a Faust agent feeds the kernel's
idempotent consumer, while the gRPC server (health, reflection) and the outbox
relay run beside it in the same event loop."""

from __future__ import annotations

import tempfile

import faust

from secondlook.consumer import IdempotentConsumer, Incoming
from secondlook.settings import Settings


def build_app(settings: Settings, consumer: IdempotentConsumer, topics: list[str]) -> faust.App:
    app = faust.App(
        "secondlook-matching",
        broker=[f"kafka://{s}" for s in settings.kafka_bootstrap_servers.split(",")],
        broker_credentials=None,
        web_enabled=False,
        datadir=tempfile.mkdtemp(prefix="secondlook-matching-"),
        topic_partitions=settings.kafka_topic_partitions,
        topic_allow_declare=False,  # topics are ensured by the kernel with their intended shape
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # The embedded broker completes a group join only when the rebalance
        # timeout expires: keep these short so a worker joins in seconds.
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=5,
        broker_max_poll_interval=30,
        broker_commit_interval=0.5,
    )
    topic = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="secondlook-matching-events")
    async def on_event(stream):
        # Faust acks (and later commits) a record only once this loop moves past
        # it, i.e. after the effect is durable in MongoDB.
        async for event in stream.events():
            message = event.message
            await consumer.handle(
                Incoming(message.topic, message.partition, message.offset, message.key, message.value)
            )

    return app

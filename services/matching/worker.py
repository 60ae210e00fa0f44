"""matching runs as a faust-streaming app: a Faust agent feeds the kernel's
idempotent consumer, while the gRPC server (health, reflection) and the outbox
relay run beside it in the same event loop."""

from __future__ import annotations

import asyncio
import ssl
import tempfile

import faust

from secondlook.consumer import IdempotentConsumer, Incoming
from secondlook.logging import get_logger
from secondlook.settings import Settings

log = get_logger(__name__)


def _credentials(settings: Settings):
    """The same Kafka security settings as the kernel's kafka-python clients."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(ssl.create_default_context())
    raise ValueError(
        f"SECONDLOOK_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}: matching supports "
        "PLAINTEXT and SSL"
    )


def build_app(settings: Settings, consumer: IdempotentConsumer, topics: list[str]) -> faust.App:
    app = faust.App(
        "secondlook-matching",
        broker=[f"kafka://{s}" for s in settings.kafka_bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
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

    # One actor per partition, so that one slow transaction does not hold up every
    # case behind it while each partition is still handled, and acked, in order.
    # (Several actors sharing one stream would ack out of order, and Faust could
    # then commit past a record still being handled.)
    @app.agent(topic, name="secondlook-matching-events", isolated_partitions=True)
    async def on_event(stream):
        # Faust acks (and later commits) a record once this loop moves past it,
        # so the loop only moves on when the record is handled: effect durable
        # or dead-lettered. It must never raise: a crashed agent's record would
        # be acked by Faust without having been handled.
        async for event in stream.events():
            message = event.message
            record = Incoming(message.topic, message.partition, message.offset, message.key, message.value)
            failures = 0
            while True:
                try:
                    await consumer.handle(record)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the dead-letter publish failed: the broker is down
                    failures += 1
                    log.warning("matching_record_retry", error=repr(exc)[:300], failures=failures)
                    await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)))

    return app

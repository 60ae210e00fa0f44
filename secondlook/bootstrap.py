"""Wiring shared by the four services' entry points.

`Kernel` holds what every service has (settings, store, publisher, relay);
`assemble` turns a kernel plus the service's own parts into a runnable
`runtime.Service`. Entry points are the only place adapters meet the service
layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from pydantic import ValidationError
from pydantic_settings import SettingsError

from secondlook.bus import KafkaPublisher
from secondlook.consumer import Handler, IdempotentConsumer
from secondlook.consumerloop import ConsumerLoop
from secondlook.grpcserver import GrpcServer
from secondlook.logging import configure_logging, get_logger
from secondlook.metrics import declare_alerted_series, start_metrics_server
from secondlook.outbox import OutboxRelay
from secondlook.probes import Probes
from secondlook.retention import Retention, stale_after
from secondlook.runtime import Service
from secondlook.settings import Settings, setting_problems
from secondlook.store import GROUP_LIMIT, Store
from secondlook.topics import REDRIVE, ensure_topics

log = get_logger(__name__)


@dataclass
class Kernel:
    name: str
    settings: Settings
    store: Store
    publisher: KafkaPublisher
    relay: OutboxRelay
    # Every topic of the platform, ensured at start and after a broker restart.
    topics: tuple[str, ...]

    def consumer(self, handlers: dict[str, Handler], on_redrive=None) -> IdempotentConsumer:
        return IdempotentConsumer(
            self.store,
            self.publisher,
            handlers,
            group=f"secondlook-{self.name}",
            max_attempts=self.settings.consumer_max_attempts,
            retry_base_seconds=self.settings.consumer_retry_base_seconds,
            on_redrive=on_redrive,
            stale_after=stale_after(self.settings.retention_grace_seconds),
        )

    async def ensure_topics(self) -> None:
        await _ensure_topics(self.settings, self.topics)


async def _ensure_topics(settings: Settings, topics: tuple[str, ...]) -> None:
    created = await asyncio.to_thread(ensure_topics, settings, topics)
    if created:
        log.info("topics_created", topics=created)


def _settings(name: str) -> Settings:
    """The environment's settings; a bad one is a log line naming its variable and
    exit status 2, before anything connects (not a traceback, nor a failure later)."""
    try:
        settings = Settings()
        problems = settings.missing_for_a_service()
    except (ValidationError, SettingsError) as exc:
        problems = setting_problems(exc)
    if problems:
        configure_logging(name)
        for variable, problem in problems:
            log.error("setting_invalid", setting=variable, problem=problem)
        raise SystemExit(2) from None
    return settings


def build_kernel(name: str, topics: tuple[str, ...], settings: Settings | None = None,
                 transactions_at_once: int = GROUP_LIMIT) -> Kernel:
    """`topics`: every topic of the platform (services/topology.py);
    `transactions_at_once`: the store's group commits under way at once."""
    settings = settings or _settings(name)
    configure_logging(name, settings.log_level)
    store = Store(settings, name, transactions_at_once=transactions_at_once)
    publisher = KafkaPublisher(settings, client_id=f"secondlook-{name}")
    # After a failed publish, make sure the topics exist again: a broker that
    # restarted empty would otherwise auto-create them with its own defaults.
    relay = OutboxRelay(store, publisher, settings.outbox_poll_seconds,
                        on_failure=lambda: _ensure_topics(settings, topics))
    return Kernel(name, settings, store, publisher, relay, topics)


def assemble(
    kernel: Kernel,
    register: Callable[[grpc.aio.Server], Iterable[str]],
    *,
    consumer: IdempotentConsumer | None = None,
    consumes: Iterable[str] = (),
    loops: Iterable[Callable[[], Coroutine[Any, Any, Any]]] = (),
    startup: Iterable[Callable[[], Awaitable[Any]]] = (),
    max_concurrency: int | None = None,
    fold_case_records: bool = False,
) -> Service:
    """`max_concurrency`: events handled at once, for a service whose events contend
    for shared documents (default: SECONDLOOK_CONSUMER_MAX_CONCURRENCY).
    `fold_case_records`: the consumer's batch handlers take several events of one
    case, in order, and fold them into one write (consumerloop.py)."""
    settings = kernel.settings
    server = GrpcServer(settings, kernel.name, register)
    probes = Probes(server, stall_seconds=settings.liveness_stall_seconds)
    service = Service(name=kernel.name)

    async def connect() -> None:
        await kernel.store.ping()
        reaped = await kernel.store.reap_orphans()
        if reaped:
            log.warning("orphaned_sessions_killed", sessions=reaped)
        await kernel.store.ensure_indexes()
        await kernel.ensure_topics()
        await kernel.publisher.connect(kernel.store.outbox_topic)
        start_metrics_server(settings.metrics_port, settings.grpc_host)
        declare_alerted_series(kernel.name)

    service.startup = [connect, *startup, server.start]
    retention = Retention(kernel.store, grace_seconds=settings.retention_grace_seconds,
                          interval_seconds=settings.retention_interval_seconds)
    service.loops = [kernel.relay.run, retention.run, *loops, probes.run]
    probes.ready_checks["producer"] = lambda: kernel.publisher.connected
    probes.heartbeats["relay"] = lambda: kernel.relay.last_cycle
    if consumer is not None:
        # Every service consumes the redrive topic: its partitions are the relay's shards.
        topics = [*consumes, REDRIVE]
        transport = ConsumerLoop(settings, consumer, topics, group=f"secondlook-{kernel.name}",
                                 on_broker_reset=kernel.relay.requeue_all, max_concurrency=max_concurrency, fold_case_records=fold_case_records)
        service.loops.append(transport.run)
        probes.ready_checks["consumer"] = lambda: transport.in_group
        kernel.relay.owned_shards = lambda: transport.owned(REDRIVE)
        probes.heartbeats["consumer"] = lambda: transport.last_poll
    service.shutdown = [kernel.store.close, kernel.publisher.close, server.stop]
    return service

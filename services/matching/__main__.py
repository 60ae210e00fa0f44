"""matching's entry point: the directory API, the consumer, the outbox relay and gRPC health.

It consumes intake's events (cases to match) and review's (an opinion frees
the specialist's slot)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import timedelta

from secondlook import metrics
from secondlook.auditlog import MongoAuditLog
from secondlook.bootstrap import assemble, build_kernel
from secondlook.clock import Clock
from secondlook.deadlines import Deadlines
from secondlook.logging import bound_contextvars, get_logger
from secondlook.runtime import run
from secondlook.unitofwork import transactor
from secondlook.v1 import matching_pb2, matching_pb2_grpc

from .. import topology
from . import reference, repository, usecases
from .domain.directory import Specialist
from .domain.matcher import Weights
from .domain.offers import OfferRules
from .grpc_api import MatchingServicer
from .handlers import make_handlers
from .usecases import MatchPolicy

log = get_logger(__name__)

# How long the directory in memory serves before it is read whole again. It is kept
# current by this replica's own commits and, with SECONDLOOK_FOLLOW_CHANGE_STREAMS,
# by every replica's (the store's change stream); capacity is never taken from it (a
# reservation is a guarded write) and a case is declared unmatched only after its
# candidates are read again, so the whole read is a safety net: rare, since at
# directory scale it costs seconds of CPU.
DIRECTORY_TTL_SECONDS = 3600.0
# When this replica frees a specialist's slot, the cases that have waited longest
# (expedited first) of those the specialist could take are tried at once, this many.
SLOTS_FREED = "slots-freed"
WAKE_ON_FREED = 3
WAITING_TRIED_AGAIN = timedelta(seconds=30)  # after a try that failed (the store away, say)


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    kernel = build_kernel("matching", topology.ALL_TOPICS)
    settings = kernel.settings
    policy = MatchPolicy(
        specialty_map=reference.specialty_map(),
        service_map=reference.service_map(),
        offers=OfferRules(ttl_seconds=settings.matching_offer_ttl_seconds,
                          expedited_ttl_seconds=settings.matching_offer_ttl_expedited_seconds,
                          max_attempts=settings.matching_offer_max_attempts, panel_size=settings.matching_panel_size,
                          capacity_wait_seconds=settings.matching_capacity_wait_seconds),
        weights=Weights(fit=settings.matching_weight_fit, load=settings.matching_weight_load,
                        turnaround=settings.matching_weight_turnaround, quality=settings.matching_weight_quality),
        cover_secondary=settings.matching_cover_secondary_diagnoses,
        blind_review_tenants=frozenset(settings.review_blind_tenants),
    )
    log.info("specialty_map_loaded", version=policy.specialty_map.version, ranges=len(policy.specialty_map.entries))
    clock = Clock()
    cache = repository.DirectoryCache(kernel.store.db, DIRECTORY_TTL_SECONDS, policy.weights)
    deadlines = Deadlines(clock)  # offers' deadlines: stored with the offers, re-armed at start
    consumer = kernel.consumer(make_handlers(kernel.store.db, clock, policy, cache, deadlines))
    transact = transactor(kernel.store, lambda uow: repository.MatchingUnitOfWork(uow, cache, deadlines))
    directory = repository.MongoMatchingRepository(kernel.store.db, cache, deadlines)

    async def fire(keys: list[str]) -> None:
        """Offers' deadlines; cases waiting for free slots whose next try fell due; and,
        when slots came free here, the cases that have waited longest."""
        offers = [k for k in keys if not k.startswith(repository.WAITING_KEY) and k != SLOTS_FREED]
        if offers:
            await transact(lambda uow: usecases.offers_overdue(uow, offers, clock.now()))
        waiting = [k.removeprefix(repository.WAITING_KEY) for k in keys if k.startswith(repository.WAITING_KEY)]
        if SLOTS_FREED in keys:
            freed = list(freed_by.values())
            freed_by.clear()
            waiting = [*await usecases.waiting_for_freed(directory, freed, WAKE_ON_FREED), *waiting]
        for case_id in dict.fromkeys(waiting):
            try:  # each on its own: one that fails waits for its next try, the others go on
                with bound_contextvars(case_id=case_id):  # its log lines name it, as a consumed event's do
                    await transact(lambda uow, c=case_id: usecases.offer_waiting(uow, c, clock, policy))
            except Exception as exc:
                log.warning("waiting_case_not_tried", case_id=case_id, error=type(exc).__name__)
                deadlines.arm(repository.WAITING_KEY + case_id, clock.now() + WAITING_TRIED_AGAIN)
        if waiting:  # only while cases wait: what the queue holds now, every replica's
            with contextlib.suppress(Exception):
                metrics.CASES_WAITING.set(await directory.count_waiting())

    freed_by: dict[str, Specialist] = {}  # who freed slots here since the waiting cases were last told

    def slots_freed(specialist: Specialist) -> None:  # only while cases wait: no store request otherwise
        if deadlines.armed_with(repository.WAITING_KEY):
            freed_by[specialist.specialist_id] = specialist
            deadlines.arm(SLOTS_FREED, clock.now())

    cache.on_freed = slots_freed

    async def open_deadlines() -> list:
        due = await directory.open_deadlines()
        metrics.CASES_WAITING.set(sum(key.startswith(repository.WAITING_KEY) for key, _ in due))
        return due

    async def expire_offers() -> None:
        await deadlines.run(open_deadlines, fire)

    # Reads of specialists' contact details (GetSpecialistContact), in matching's own
    # access audit: the kernel's hash-chained log, as intake keeps for cases.
    audit = MongoAuditLog(kernel.store.db)

    def register(server):
        servicer = MatchingServicer(transact, directory,
                                    reference.taxonomy(), clock, policy, cache.specialists, audit)
        matching_pb2_grpc.add_MatchingServiceServicer_to_server(servicer, server)
        return [matching_pb2.DESCRIPTOR.services_by_name["MatchingService"].full_name]

    async def prepare() -> None:
        await repository.ensure_indexes(kernel.store.db)
        seeded = await repository.seed_if_empty(kernel.store.db, settings.matching_directory_seed)
        if seeded:
            log.info("directory_seeded", specialists=seeded)

    service = assemble(
        kernel,
        register,
        consumer=consumer,
        consumes=topology.CONSUMES["matching"],
        startup=[prepare, audit.ensure_indexes],
        loops=[expire_offers, *([cache.follow] if settings.follow_change_streams else [])],
        max_concurrency=settings.matching_max_concurrency,
    )
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

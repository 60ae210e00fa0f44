"""matching's entry point: directory, consumer, outbox relay and gRPC health.

It consumes intake's events (cases to match) and review's (an opinion frees
the specialist's slot)."""

from __future__ import annotations

import asyncio
import sys

from secondlook.bootstrap import assemble, build_kernel
from secondlook.clock import Clock
from secondlook.logging import get_logger
from secondlook.runtime import run

from .. import topology
from . import reference, repository
from .domain.matcher import Weights
from .handlers import make_handlers
from .usecases import MatchPolicy

log = get_logger(__name__)

# How long the directory in memory serves before it is read again. Capacity is
# never taken from it (a reservation is a guarded write), and a case is declared
# unmatched only after a fresh read, so this only bounds how soon a change made
# elsewhere (another replica's reservations, a directory edit) shapes the ranking.
DIRECTORY_TTL_SECONDS = 30.0


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    kernel = build_kernel("matching", topology.ALL_TOPICS)
    settings = kernel.settings
    policy = MatchPolicy(
        specialty_map=reference.specialty_map(), offer_ttl_seconds=settings.matching_offer_ttl_seconds,
        weights=Weights(fit=settings.matching_weight_fit, load=settings.matching_weight_load,
                        turnaround=settings.matching_weight_turnaround, quality=settings.matching_weight_quality),
        cover_secondary=settings.matching_cover_secondary_diagnoses,
    )
    log.info("specialty_map_loaded", version=policy.specialty_map.version, ranges=len(policy.specialty_map.entries))
    consumer = kernel.consumer(make_handlers(kernel.store.db, Clock(), policy, DIRECTORY_TTL_SECONDS))

    async def prepare() -> None:
        await repository.ensure_indexes(kernel.store.db)
        seeded = await repository.seed_if_empty(kernel.store.db, settings.matching_directory_seed)
        if seeded:
            log.info("directory_seeded", specialists=seeded)

    # No API of its own yet: the gRPC server carries health and reflection.
    service = assemble(
        kernel,
        lambda server: [],
        consumer=consumer,
        consumes=topology.CONSUMES["matching"],
        startup=[prepare],
        max_concurrency=settings.matching_max_concurrency,
    )
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

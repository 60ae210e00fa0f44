"""matching's entry point: directory, Faust agent, outbox relay and gRPC health.

It consumes intake's events (cases to match) and review's (an opinion frees
the specialist's slot)."""

from __future__ import annotations

import asyncio
import sys

from secondlook import topics
from secondlook.bootstrap import assemble, build_kernel
from secondlook.logging import get_logger
from secondlook.runtime import run

from . import directory
from .handlers import make_handlers
from .worker import build_app

log = get_logger(__name__)


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    kernel = build_kernel("matching")
    settings = kernel.settings
    consumer = kernel.consumer(make_handlers(settings.matching_offer_ttl_seconds))
    app = build_app(settings, consumer, [topics.INTAKE_EVENTS, topics.REVIEW_EVENTS, topics.REDRIVE])

    async def prepare() -> None:
        await directory.ensure_indexes(kernel.store.db)
        seeded = await directory.seed_if_empty(kernel.store.db, settings.matching_directory_seed)
        if seeded:
            log.info("directory_seeded", specialists=seeded)

    async def run_faust() -> None:
        await app.start()
        try:
            await app.wait_until_stopped()
        finally:
            await app.stop()

    # No API of its own yet: the gRPC server carries health and reflection.
    service = assemble(kernel, lambda server: [], startup=[prepare], loops=[run_faust])
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

"""intake's entry point: wires the store, bus, gRPC API, consumer and sweeper."""

from __future__ import annotations

import asyncio
import sys

from secondlook import topics
from secondlook.bootstrap import assemble, build_kernel
from secondlook.runtime import run
from secondlook.v1 import intake_pb2, intake_pb2_grpc

from . import repository
from .grpc_api import IntakeServicer
from .handlers import make_handlers
from .sweeper import Sweeper


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    kernel = build_kernel("intake")
    settings = kernel.settings

    def register(server):
        intake_pb2_grpc.add_IntakeServiceServicer_to_server(IntakeServicer(kernel.store, settings), server)
        return [intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name]

    sweeper = Sweeper(kernel.store, interval=settings.sweeper_interval_seconds,
                      stuck_after=settings.sweeper_stuck_after_seconds,
                      max_per_sweep=settings.sweeper_max_redrives_per_sweep)
    service = assemble(
        kernel,
        register,
        consumer=kernel.consumer(make_handlers(settings.sweeper_stuck_after_seconds)),
        topics=[topics.MATCHING_EVENTS, topics.REVIEW_EVENTS, topics.NOTIFY_EVENTS, topics.REDRIVE],
        startup=[lambda: repository.ensure_indexes(kernel.store.db)],
        loops=[sweeper.run],
    )
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

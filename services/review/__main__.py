"""review's entry point: the reviewer's gRPC API and the inbox consumer."""

from __future__ import annotations

import asyncio
import sys

from secondlook.bootstrap import assemble, build_kernel
from secondlook.clock import Clock
from secondlook.runtime import run
from secondlook.unitofwork import transactor
from secondlook.v1 import review_pb2, review_pb2_grpc

from .. import topology
from . import repository
from .grpc_api import ReviewServicer
from .handlers import make_handlers
from .repository import InboxReader, ReviewUnitOfWork


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    kernel = build_kernel("review", topology.ALL_TOPICS)

    def register(server):
        servicer = ReviewServicer(transactor(kernel.store, ReviewUnitOfWork), InboxReader(kernel.store.db), Clock())
        review_pb2_grpc.add_ReviewServiceServicer_to_server(servicer, server)
        return [review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name]

    service = assemble(
        kernel,
        register,
        consumer=kernel.consumer(make_handlers(kernel.store.db)),
        consumes=topology.CONSUMES["review"],
        startup=[lambda: repository.ensure_indexes(kernel.store.db)],
    )
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

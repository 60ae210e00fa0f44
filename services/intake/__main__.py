"""intake's entry point: wires the store, bus, gRPC API, FHIR endpoint, consumer and sweeper."""

from __future__ import annotations

import asyncio
import sys

from secondlook.auditlog import MongoAuditLog
from secondlook.auth import TokenVerifier
from secondlook.bootstrap import assemble, build_kernel
from secondlook.changes import follow_changes
from secondlook.clock import Clock
from secondlook.feed import Feed
from secondlook.phi import PhiCipher
from secondlook.runtime import run
from secondlook.unitofwork import transactor
from secondlook.v1 import intake_pb2, intake_pb2_grpc

from .. import topology
from . import fhir_api, repository
from .grpc_api import IntakeServicer
from .handlers import make_handlers
from .repository import IntakeUnitOfWork, MongoCaseReader
from .sweeper import Sweeper

PHI_KEY = "intake-phi"  # the data key's name in the key vault


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    # One transaction at a time: intake's are commands from many callers (its events
    # are projected by single-document writes), so one group commit holds all that
    # arrived meanwhile. Two at once made groups half as large on the embedded store
    # (they contend for its one process): `make bench-intake` 410 submits/s at one,
    # 360 at two, 310 at three.
    kernel = build_kernel("intake", topology.ALL_TOPICS, transactions_at_once=1)
    settings = kernel.settings
    clock = Clock()
    cipher = PhiCipher(settings, kernel.store.client, PHI_KEY)
    transact = transactor(kernel.store, lambda uow: IntakeUnitOfWork(uow, cipher))
    reader = MongoCaseReader(kernel.store.db, cipher)
    audit = MongoAuditLog(kernel.store.db)
    changes: Feed[str] = Feed()  # recorded timeline entries, to WatchCase streams
    stuck_after = settings.sweeper_stuck_after_seconds

    def register(server):
        servicer = IntakeServicer(transact, reader, audit, changes, clock, stuck_after)
        intake_pb2_grpc.add_IntakeServiceServicer_to_server(servicer, server)
        return [intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name]

    sweeper = Sweeper(transact, reader, interval=settings.sweeper_interval_seconds, stuck_after=stuck_after,
                      max_per_sweep=settings.sweeper_max_redrives_per_sweep, clock=clock)
    loops = [sweeper.run]
    if settings.fhir_port:  # the FHIR twin of SubmitCase, over the same use cases
        app = fhir_api.make_fhir_app(transact, reader, audit, clock, TokenVerifier(settings), stuck_after,
                                     base_url=settings.fhir_base_url)
        loops.append(lambda: fhir_api.serve(app, settings.grpc_host, settings.fhir_port))
    if settings.follow_change_streams:  # another replica's projections reach this one's watchers
        def announce(change: dict) -> None:
            case_id = change["documentKey"]["_id"]
            changes.publish(case_id, case_id)
        loops.append(lambda: follow_changes(kernel.store.db[repository.CASES], announce, full_document=False,
                                                   on_gap=changes.interrupt_all))
    service = assemble(
        kernel,
        register,
        consumer=kernel.consumer(make_handlers(kernel.store.db, cipher, changes, clock, stuck_after)),
        consumes=topology.CONSUMES["intake"],
        startup=[lambda: repository.ensure_indexes(kernel.store.db), cipher.ensure_key, audit.ensure_indexes],
        loops=loops,
        fold_case_records=True,  # a case that fell behind records its stages in one write (project_many)
    )
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

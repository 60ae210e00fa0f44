"""review's entry point: the reviewer's gRPC API and the inbox consumer."""

from __future__ import annotations

import asyncio
import sys

from secondlook import serviceclient
from secondlook.auditlog import MongoAuditLog
from secondlook.bootstrap import assemble, build_kernel
from secondlook.clock import Clock
from secondlook.deadlines import Deadlines
from secondlook.phi import PhiCipher
from secondlook.runtime import run
from secondlook.unitofwork import transactor
from secondlook.v1 import review_pb2, review_pb2_grpc

from .. import topology
from . import repository
from .cases import IntakeCases
from .domain.sla import SlaRules
from .feed import AssignmentFeed
from .grpc_api import ReviewServicer
from .handlers import make_handlers, make_sla_keeper
from .repository import InboxReader, ReviewUnitOfWork
from .sealed import PHI_KEY


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    kernel = build_kernel("review", topology.ALL_TOPICS)
    settings = kernel.settings
    clock = Clock()
    deadlines = Deadlines(clock)
    sla_rules = SlaRules(standard_seconds=settings.review_sla_standard_seconds,
                         expedited_seconds=settings.review_sla_expedited_seconds,
                         reminder_fractions=tuple(settings.review_sla_reminder_fractions),
                         prior_auth_standard_seconds=settings.review_prior_auth_standard_seconds,
                         prior_auth_expedited_seconds=settings.review_prior_auth_expedited_seconds)
    cipher = PhiCipher(settings, kernel.store.client, PHI_KEY)
    transact = transactor(kernel.store, lambda uow: ReviewUnitOfWork(uow, cipher))
    # The SLA clocks: armed as assignments change (here, or on another replica, via the
    # change stream), re-armed from the store at start; firing is guarded, so once.
    feed = AssignmentFeed(on_change=lambda a: track(a))
    track, fire = make_sla_keeper(transact, feed, clock, deadlines)
    inbox = InboxReader(kernel.store.db, cipher)
    # What reviewers write is PHI: its writes and reads go to an access audit of review's own.
    audit = MongoAuditLog(kernel.store.db)
    # Cases are intake's: read over its API, as review (role case-reader), for the reviewer.
    cases = IntakeCases(serviceclient.channel(kernel.settings, kernel.settings.intake_target),
                        serviceclient.ServiceIdentity(kernel.settings, "review", ["case-reader"]))

    def register(server):
        servicer = ReviewServicer(transact, inbox, feed, clock, cases, sla_rules, audit, cipher.fingerprint)
        review_pb2_grpc.add_ReviewServiceServicer_to_server(servicer, server)
        return [review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name]

    loops = [lambda: deadlines.run(inbox.sla_alarms, fire)]
    if kernel.settings.follow_change_streams:  # other replicas' commits reach this one's watchers
        loops.append(lambda: repository.follow_changes(kernel.store.db, cipher, feed.publish, feed.interrupt_all))
    service = assemble(
        kernel,
        register,
        consumer=kernel.consumer(make_handlers(kernel.store.db, cipher, feed, clock, sla_rules)),
        consumes=topology.CONSUMES["review"],
        loops=loops,
        startup=[lambda: repository.ensure_indexes(kernel.store.db), cipher.ensure_key, audit.ensure_indexes,
                 lambda: repository.seal_legacy_texts(kernel.store.db, cipher)],
    )
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

"""notify's entry point: the notice consumer, the webhook dispatcher and the endpoint API."""

from __future__ import annotations

import asyncio
import sys

from secondlook import serviceclient
from secondlook.bootstrap import assemble, build_kernel
from secondlook.clock import Clock
from secondlook.phi import PhiCipher
from secondlook.runtime import run
from secondlook.unitofwork import transactor
from secondlook.v1 import notify_pb2, notify_pb2_grpc

from .. import topology
from . import repository
from .contacts import IntakeClaims, IntakeContacts, MatchingContacts
from .dispatcher import Dispatcher, PeopleChannels
from .domain.notices import SMS_PART, SMS_TEMPLATES, TEMPLATES
from .grpc_api import NotifyServicer
from .handlers import make_handlers
from .mailer import SmtpMailer
from .preference_repository import CachedPreferences, MongoPreferences
from .repository import CachedEndpoints, MongoDeliveryQueue, MongoEndpoints, NotifyUnitOfWork
from .sms import sms_sender
from .templating import Templates

# How soon an endpoint's or a preference's change through another replica takes effect here.
ENDPOINT_CACHE_SECONDS = 5.0
SECRETS_KEY = "notify-webhook-secrets"  # the data key sealing webhook secrets, in the PHI key vault


async def serve() -> int:
    # Built inside the running loop: grpc.aio servers bind to the loop that creates them.
    kernel = build_kernel("notify", topology.ALL_TOPICS)
    settings = kernel.settings
    clock = Clock()
    cipher = PhiCipher(settings, kernel.store.client, SECRETS_KEY)
    people = None
    preferences = CachedPreferences(MongoPreferences(kernel.store.db), ttl_seconds=ENDPOINT_CACHE_SECONDS)
    mailer, sms = (SmtpMailer(settings) if settings.smtp_host else None), sms_sender(settings)
    identity = serviceclient.ServiceIdentity(settings, "notify", ["contact-reader"])
    intake = serviceclient.channel(settings, settings.intake_target)
    claims = IntakeClaims(intake, identity)  # a prior authorization's ClaimResponse, for the submitter's webhook
    if mailer or sms:  # notices to people: contacts from intake, rendered from the templates, sent by the channel
        contacts = IntakeContacts(intake, identity)
        reviewers = MatchingContacts(serviceclient.channel(settings, settings.matching_target), identity)
        templates = Templates(settings.notify_templates_dir)
        templates.require(TEMPLATES, "txt")
        if sms:
            templates.require(SMS_TEMPLATES, SMS_PART)
        people = PeopleChannels(contacts=contacts, templates=templates,
                                mailer=mailer, sms=sms, sender=settings.email_from,
                                portal_url=settings.notify_portal_url, preferences=preferences,
                                reviewers=reviewers, operations_email=settings.operations_email)
    endpoints = CachedEndpoints(MongoEndpoints(kernel.store.db, cipher), ttl_seconds=ENDPOINT_CACHE_SECONDS)
    queue = MongoDeliveryQueue(kernel.store.db)
    dispatcher = Dispatcher(
        transactor(kernel.store, lambda uow: NotifyUnitOfWork(uow, cipher)), queue,
        endpoints, clock, timeout=settings.webhook_timeout_seconds, max_attempts=settings.delivery_max_attempts,
        allow_insecure_targets=settings.webhook_allow_insecure_targets,
        disable_after_dead=settings.webhook_disable_after_dead,
        retry_base_seconds=settings.delivery_retry_base_seconds, people=people,
        people_send_seconds=settings.smtp_timeout_seconds * 2,  # connect and conversation; Twilio's POST less
        claims=claims.claim_response,
    )

    def register(server):
        servicer = NotifyServicer(endpoints, queue, clock,
                                  settings.webhook_allow_insecure_targets, dispatcher.post,
                                  retried=dispatcher.ask_store, max_attempts=settings.delivery_max_attempts,
                                  preferences=preferences)
        notify_pb2_grpc.add_NotifyServiceServicer_to_server(servicer, server)
        return [notify_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name]

    service = assemble(
        kernel,
        register,
        consumer=kernel.consumer(make_handlers(kernel.store.db, endpoints, clock, dispatcher.send_now,
                                               dispatcher.fresh_lease_seconds, dispatcher.withdrawn,
                                               channels=frozenset(people.channels if people else ()),
                                               escalate=people is not None and people.escalates,
                                               people=dispatcher if people else None),
                                 on_redrive=dispatcher.rearm),
        consumes=topology.CONSUMES["notify"],
        startup=[lambda: repository.ensure_indexes(kernel.store.db), cipher.ensure_key,
                 lambda: repository.migrate_endpoints(kernel.store.db, cipher)],
        loops=[dispatcher.run],
    )
    return await run(service)


def main() -> int:
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())

"""Prometheus metrics shared by every service (prefix `secondlook_`).

Labels carry service names, event types, methods and outcomes: never case ids
(unbounded) and never PHI.
"""

from __future__ import annotations

import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

# A `_created` series beside every counter and histogram doubles what is scraped and
# stored, and nothing here reads it (a restart shows in process_start_time_seconds).
disable_created_metrics()

STAGE_EVENTS = Counter(
    "secondlook_stage_events_total",
    "Stage-transition events emitted, by event type.",
    ["service", "event_type"],
)
EVENTS_CONSUMED = Counter(
    "secondlook_events_consumed_total",
    "Events taken from Kafka, by outcome (applied, duplicate, ignored, stale, dead_lettered).",
    ["service", "event_type", "outcome"],
)
EVENT_HANDLE_SECONDS = Histogram(
    "secondlook_event_handle_seconds",
    "Time to apply one consumed event, transaction included.",
    ["service", "event_type"],
)
STAGE_LATENCY_SECONDS = Histogram(
    "secondlook_stage_latency_seconds",
    "Time from an event being produced to its effect being durable downstream.",
    ["service", "event_type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
STAGE_SECONDS = Histogram(
    "secondlook_stage_seconds",
    "Time from a consumed event to each event its handling caused, from the events' own times: "
    "where a case's time goes, hop by hop.",
    ["from", "to"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
OUTBOX_BACKLOG = Gauge(
    "secondlook_outbox_backlog",
    "Committed outbox events held in memory to publish to Kafka, a publish under way included (past "
    "the memory limit they wait in the outbox alone: secondlook_outbox_oldest_seconds still counts).",
    ["service"],
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "secondlook_outbox_oldest_seconds",
    "How long the oldest committed event not yet on Kafka has waited (0: none waits).",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "secondlook_outbox_published_total",
    "Outbox events published to Kafka (re-publications included).",
    ["service"],
)
DEAD_LETTERS = Counter(
    "secondlook_dead_letters_total",
    "Events sent to the dead-letter topic, by reason class.",
    ["service", "reason"],
)
GRPC_REQUESTS = Counter(
    "secondlook_grpc_requests_total",
    "gRPC calls handled, by method and status code.",
    ["service", "method", "code"],
)
GRPC_LATENCY_SECONDS = Histogram(
    "secondlook_grpc_latency_seconds",
    "gRPC call latency, by method.",
    ["service", "method"],
)
HTTP_REQUESTS = Counter(
    "secondlook_http_requests_total",
    "HTTP requests handled (intake's FHIR endpoint), by route and status code; \"unmatched\" for any "
    "path or method the endpoint does not serve.",
    ["service", "route", "code"],
)
HTTP_LATENCY_SECONDS = Histogram(
    "secondlook_http_latency_seconds",
    "HTTP request latency (intake's FHIR endpoint), by route.",
    ["service", "route"],
)
DELIVERY_ATTEMPTS = Counter(
    "secondlook_delivery_attempts_total",
    "Notice delivery attempts, by channel and outcome (delivered, retrying, dead, cancelled, skipped, "
    "postponed: quiet hours).",
    ["service", "channel", "outcome"],
)
MONGO_TRANSACTIONS = Counter(
    "secondlook_mongo_transactions_total",
    "MongoDB transactions committed (units of work).",
    ["service"],
)
MONGO_COMMANDS = Counter(
    "secondlook_mongo_commands_total",
    "Requests sent to MongoDB, by command (find, insert, update, findAndModify, commitTransaction, ...).",
    ["service", "command"],
)
CONSUMER_LAG = Gauge(
    "secondlook_consumer_lag",
    "Records on a topic's partitions this consumer group member holds that it has not finished "
    "(the high-water marks of its last fetches, less what it has handled).",
    ["group", "topic"],
)
CASES_WAITING = Gauge(
    "secondlook_cases_waiting",
    "Cases waiting for a free reviewer slot (matching; counted at each try of the waiting cases, "
    "at most 5 minutes apart while any wait, and at each reload of the deadlines).",
)
PIPELINE_CONNECTED = Gauge(
    "secondlook_pipeline_connected",
    "1 while the service's producer is connected to Kafka and each consumer holds its place in its group.",
    ["service"],
)
STORE_REACHABLE = Gauge(
    "secondlook_store_reachable",
    "1 while the MongoDB driver knows a primary it can write to (its own heartbeats), else 0.",
    ["service"],
)
REDRIVE_REQUESTS = Counter(
    "secondlook_redrive_requests_total",
    "Redrive requests sent by intake's sweeper for cases stuck in a stage.",
    ["service"],
)
REDRIVES = Counter(
    "secondlook_redrives_total",
    "Redrive requests answered by re-queuing the case's outbox events.",
    ["service"],
)
SLA_ALARMS = Counter(
    "secondlook_sla_alarms_total",
    "Review SLA clocks that reminded their reviewer (reminder) or ran out (breach: an escalation).",
    ["kind"],
)


def start_metrics_server(port: int, host: str = "0.0.0.0") -> threading.Thread | None:
    """The metrics at http://<host>:<port>/metrics, in a thread of their own; any other
    path is 404 (an HTTP health probe pointed here by mistake must not read healthy:
    health is gRPC's). `host`: the address the service's gRPC binds, so a service kept
    to one interface keeps its metrics there too."""
    if not port:
        return None
    metrics = make_wsgi_app()

    def serve(environ, start_response):
        if environ.get("PATH_INFO") == "/metrics":
            return metrics(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: the metrics are at /metrics (health is gRPC health, on the service's port)\n"]

    host = host.strip("[]")
    server_class = _ThreadingWSGIServer6 if ":" in host else ThreadingWSGIServer
    server = make_server(host, port, serve, server_class, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return thread


class _ThreadingWSGIServer6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # a scrape every few seconds is no news; the services log in JSON
# The prior-authorization figures a payer publishes (CMS-0057-F), as intake records the
# decisions review announces (services/intake/domain/priorauth_report.py defines them;
# `secondlook report prior-auth` prints the same from the store). Per tenant: a
# deployment's tenants are few.
PRIOR_AUTH_DECISIONS = Counter(
    "secondlook_prior_auth_decisions_total",
    "Prior-authorization requests decided, by their first decision's outcome (approved, denied, "
    "partially_approved).",
    ["tenant", "outcome"],
)
PRIOR_AUTH_AMENDMENTS = Counter(
    "secondlook_prior_auth_amendments_total",
    "Amended prior-authorization decisions (reconsideration, appeal), by outcome: approved counts the "
    "requests approved after an amended decision (an amendment follows a decision contested; the report "
    "also checks that the first decision did not approve, and counts a request once).",
    ["tenant", "outcome"],
)
PRIOR_AUTH_DECISION_SECONDS = Histogram(
    "secondlook_prior_auth_decision_seconds",
    "Time from a prior-authorization request's receipt to its first decision, by urgency (standard, expedited).",
    ["tenant", "urgency"],
    buckets=(3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 4 * 86400, 5 * 86400, 7 * 86400,
             14 * 86400),
)


# The series the prod alerts watch with increase(), declared at 0 when a service starts:
# a counter series born at its first event would read 1 at its first sample, and an
# increase() over it 0 (deploy/k8s/overlays/prod/alerts.yaml).
ALERTED_EVENTS = {"matching": ("case.unmatched", "case.waiting"), "notify": ("endpoint.disabled",)}
NOTICE_CHANNELS = ("webhook", "email", "sms")
DEAD_LETTER_REASONS = ("undecodable", "rejected", "exhausted")  # consumer.IdempotentConsumer's


def declare_alerted_series(service: str) -> None:
    for event_type in ALERTED_EVENTS.get(service, ()):
        STAGE_EVENTS.labels(service, event_type)
    if service == "notify":
        for channel in NOTICE_CHANNELS:
            for outcome in ("dead", "retrying", "delivered"):
                DELIVERY_ATTEMPTS.labels(service, channel, outcome)
    if service == "intake":
        REDRIVE_REQUESTS.labels(service)
    if service == "review":
        SLA_ALARMS.labels("breach")
    for reason in DEAD_LETTER_REASONS:
        DEAD_LETTERS.labels(service, reason)

"""The one settings object, read from SECONDLOOK_* environment variables.

The same code runs against the embedded broker and store or against real Kafka
and MongoDB clusters: only these values change. README.md has the table.
"""

from __future__ import annotations

import email.utils
import re
import socket
from pathlib import Path
from typing import Literal

import email_validator
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import uri_parser
from pymongo.errors import PyMongoError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SECONDLOOK_", extra="ignore")

    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="This replica's stable name; default the host name (the pod name in Kubernetes). A restarted "
        "replica aborts the transactions its predecessor of the same name left open, so their documents are not "
        "locked until the store reaps them.",
    )

    # --- Kafka -----------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated Kafka bootstrap servers."
    )
    kafka_enable_idempotence: bool = Field(
        True,
        description="Idempotent producer. Leave on for real Kafka; the embedded broker "
        "does not support it, so the dev stack turns it off.",
    )
    kafka_topic_partitions: int = Field(4, ge=1, description="Partitions of each topic ensured at start.")
    kafka_replication_factor: int = Field(1, ge=1, description="Replication factor of ensured topics.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL"] = Field(
        "PLAINTEXT", description="`PLAINTEXT` or `SSL` (SASL credentials are not wired yet)."
    )
    # Consumer group timings: Kafka's own defaults, right for real clusters. The
    # embedded broker completes a group join only when the rebalance timeout
    # (the max poll interval) expires, so the dev stack shortens them.
    kafka_consumer_max_poll_interval_ms: int = Field(
        300_000, ge=1_000,
        description="Longest gap between polls before the member leaves its group (also the rebalance timeout). "
        "Polling never waits on event handling, so this only bounds a stuck process.",
    )
    kafka_consumer_session_timeout_ms: int = Field(
        45_000, ge=1_000, description="A member silent for this long is removed from its group."
    )
    kafka_consumer_heartbeat_interval_ms: int = Field(3_000, ge=100, description="Consumer heartbeat interval.")
    kafka_consumer_fetch_max_wait_ms: int = Field(
        500, ge=0, description="Longest a fetch waits for data (the latency floor of a hop on brokers that "
        "answer idle fetches only at the deadline)."
    )
    kafka_consumer_assignment_strategy: Literal["cooperative-sticky", "range", "roundrobin"] = Field(
        "cooperative-sticky",
        description="Partition assignment: cooperative-sticky moves only the partitions that change owner, "
        "no stop-the-world rebalance.",
    )
    kafka_consumer_static_membership: bool = Field(
        False,
        description="Static group membership (KIP-345) under `SECONDLOOK_INSTANCE_ID`: a restarted replica takes "
        "its partitions back without a rebalance. Only with stable instance ids (a StatefulSet's pod names): a "
        "replaced replica's partitions wait out the session timeout.",
    )
    consumer_max_concurrency: int = Field(
        2, ge=1, description="Batches of events a consumer applies at once. A batch holds events of different "
        "cases (one case's events are always handled one at a time, in order): what arrived while the batches "
        "before it were applied, applied in as few store requests as it can (group commit)."
    )
    consumer_max_in_flight_per_partition: int = Field(
        500, ge=1, description="Records fetched but not yet handled, per partition, before it is paused."
    )
    consumer_commit_interval_seconds: float = Field(
        0.5, gt=0, description="How often handled offsets are committed (always in order, never past a "
        "record still being handled)."
    )

    # --- MongoDB ---------------------------------------------------------------
    mongo_uri: str = Field(
        "mongodb://127.0.0.1:27017/?directConnection=true",
        description="MongoDB connection string; must reach a replica set (transactions).",
    )
    mongo_database_prefix: str = Field(
        "secondlook",
        description="Each service owns the database `<prefix>_<service>`; services never share one (the PHI "
                    "key vault's, SECONDLOOK_PHI_KEY_VAULT_NAMESPACE, holds only data keys).",
    )
    mongo_max_pool_size: int = Field(
        8, ge=1, description="Most connections a service opens to the store. Group commit keeps few requests in "
        "flight, and every connection costs the store a server thread: more only adds contention.",
    )
    mongo_retry_writes: bool = Field(
        True, description="Retryable writes: a single write lost to a network error or a primary step-down is "
        "sent again once and applied once. Leave on for MongoDB. The embedded store keeps a table of the last "
        "10,000 such writes and scans (and, once full, sorts) it on every write, so each write costs it more "
        "as a run goes on; the dev stack turns them off (every write the services make outside a transaction "
        "is guarded or idempotent, and the callers retry).",
    )
    mongo_transaction_timeout_seconds: float = Field(
        10.0, gt=0,
        description="Bound on one unit of work, its retries on transient errors included (the driver's own "
        "bound is 120 s). A consumer whose commit outcome is unknown checks it before giving up on an event.",
    )

    # --- Service endpoints -----------------------------------------------------
    grpc_host: str = Field("0.0.0.0", description="Address the gRPC server binds.")
    grpc_port: int = Field(50051, ge=0, le=65535, description="Port of this service's gRPC server (0: any free "
                           "one).")
    grpc_max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request accepted; larger ones get `RESOURCE_EXHAUSTED`."
    )
    grpc_max_streams_per_caller: int = Field(
        256, ge=1, description="Server streams (WatchAssignments, WatchCase) one caller (tenant and subject) may hold "
        "open at once on one replica; one more gets `RESOURCE_EXHAUSTED`. Each costs the replica a task and a queue "
        "(~25 KB idle): an integration following more cases than this takes the tenant's webhooks.",
    )
    metrics_port: int = Field(9464, ge=0, le=65535,
                              description="Port of the Prometheus `/metrics` endpoint; 0 disables.")
    fhir_port: int = Field(8080, ge=0, le=65535, description="Port of intake's FHIR R4 HTTP endpoint (`/fhir/Bundle`, bound on "
                           "`SECONDLOOK_GRPC_HOST`); 0 disables. The other services have none.")
    fhir_base_url: str = Field("", description="The FHIR endpoint's public base URL (`https://fhir.example.org/fhir`), behind a proxy or an ingress: `Location` headers are built on it. Empty: on the address the request was sent to.")

    # --- Auth ------------------------------------------------------------------
    jwt_secret: SecretStr = Field(
        SecretStr(""),
        description="HS256 key that signs bearer tokens. Required; never committed. "
        "The dev stack generates one per run.",
    )
    jwt_issuer: str = Field("secondlook-dev", description="Expected `iss` claim.")
    jwt_audience: str = Field("secondlook", description="Expected `aud` claim.")

    # --- PHI encryption at rest (secondlook/phi.py) -------------------------------
    phi_kms_provider: Literal["local", "aws", "azure", "gcp", "kmip"] = Field(
        "local", description="KMS provider whose master key wraps the data keys that encrypt PHI. `local` is "
        "for development: a key file (below). In production a cloud KMS, with the next two settings."
    )
    phi_local_master_key_file: Path | None = Field(
        None, description="The local master key: a file of 96 random bytes, never committed "
        "(`secondlook keys new-local-key PATH`). The dev stack generates one in its state folder."
    )
    phi_local_previous_master_key_file: Path | None = Field(
        None, description="During a rotation of the local master key: the key being retired, so data keys "
        "still wrapped with it can be read until `secondlook keys rotate` has re-wrapped them."
    )
    phi_kms_credentials: SecretStr = Field(
        SecretStr(""), description="Cloud KMS credentials as JSON, e.g. AWS `{\"accessKeyId\": ..., "
        "\"secretAccessKey\": ...}` (`{}` to use the provider's ambient credentials where supported)."
    )
    phi_master_key: str = Field(
        "", description="The cloud KMS master key as JSON, e.g. AWS `{\"region\": \"us-east-1\", \"key\": "
        "\"arn:aws:kms:...\"}`. Rotating it: point this at the new key, then `secondlook keys rotate`."
    )
    phi_key_vault_namespace: str = Field(
        "secondlook_keyvault.datakeys", pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+$",
        description="`database.collection` of the data keys (each wrapped by the master key).",
    )

    # --- Behaviour -------------------------------------------------------------
    liveness_stall_seconds: float = Field(
        60.0, gt=0, description="A consumer loop or relay that has not gone round for this long fails the "
        "liveness check (gRPC health service `liveness`), so the pod is restarted."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Log level of the JSON logs (any case).")
    outbox_poll_seconds: float = Field(
        0.5,
        gt=0,
        description="How often an idle outbox relay goes round (its liveness heartbeat). It publishes each "
        "commit's events at once, from memory, and reads the outbox only when there is reason to: at start, on "
        "gaining shards, after a redrive or a failure.",
    )
    consumer_fold_linger_seconds: float = Field(
        0.25, ge=0, le=5,
        description="How long a consumer that folds a case's events into one write (intake's status projection) "
        "lets them gather before applying them. A moving case's stages come tens of milliseconds apart, so they "
        "land in fewer writes; it delays intake's view of a case (GetCase, WatchCase) by at most this, never the "
        "pipeline.",
    )
    consumer_max_attempts: int = Field(
        5, ge=1, description="Attempts at an event (a failing handler, not an unreachable store) before it goes "
        "to the dead-letter topic. The store being down pauses consumption instead."
    )
    consumer_retry_base_seconds: float = Field(
        0.2, gt=0, description="First wait between attempts at a failing event; it doubles, with jitter."
    )
    retention_grace_seconds: float = Field(
        30 * 86400, ge=7200,
        description="Published outbox rows and processed-event markers are deleted this long after they were "
        "written; consumers refuse events older than this less an hour. Keep it above the Kafka topics' retention.",
    )
    retention_interval_seconds: float = Field(3600.0, gt=0, description="How often retention runs.")
    sweeper_interval_seconds: float = Field(5.0, gt=0, description="How often intake looks for stuck cases.")
    sweeper_stuck_after_seconds: float = Field(
        30.0, gt=0, description="A case whose status has not moved for this long in a stage the system owns "
        "(SUBMITTED, MATCHING, OPINION_READY) is re-driven; the wait doubles after each redrive."
    )
    sweeper_max_redrives_per_sweep: int = Field(
        100, ge=1, description="Most cases one sweep re-drives (the rate limit: this many per interval)."
    )
    webhook_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of one webhook POST.")
    webhook_allow_insecure_targets: bool = Field(
        False,
        description="Accept http:// and loopback or private-network webhook URLs. Development only: "
        "the dev stack turns it on for its local receiver.",
    )
    delivery_max_attempts: int = Field(
        36, ge=1, description="Attempts of a notice (exponential backoff with jitter) before it is dead. With the "
        "default waits (1 s doubling, at most an hour) 36 attempts span 12-24 h: a receiver down for a night's "
        "deploy or outage loses nothing."
    )
    delivery_retry_base_seconds: float = Field(
        1.0, gt=0, le=3600, description="The wait after a delivery's first failed attempt; each next wait is "
        "twice as long (between half and all of it, at random), at most an hour."
    )
    webhook_disable_after_dead: int = Field(
        5, ge=0, description="A webhook endpoint whose deliveries died this many times in a row is disabled, "
        "with an endpoint.disabled event for operations (0: never)."
    )
    intake_target: str = Field(
        "intake:50051", description="intake's gRPC address (host:port): review reads a case for its reviewer "
        "there (service identity of role case-reader), notify a case's contact details and a prior authorization's ClaimResponse (role contact-reader)."
    )
    matching_target: str = Field(
        "matching:50051", description="matching's gRPC address (host:port): notify reads a reviewer's contact "
        "details there (role contact-reader)."
    )
    operations_email: str = Field(
        "", description="Where notify e-mails operations' escalations (a case nobody can take, a breached review "
        "clock, a dead notice, a disabled endpoint); several addresses separated by commas; empty: none."
    )
    smtp_host: str = Field(
        "", description="The SMTP relay notify sends e-mail through; empty: no e-mail notices (webhooks only)."
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="The relay's port (587: submission with STARTTLS; "
                           "465: TLS from the first byte).")
    smtp_starttls: bool = Field(True, description="Upgrade the connection with STARTTLS before authenticating "
                                "(not with implicit TLS).")
    smtp_implicit_tls: bool | None = Field(None, description="TLS from the connection's first byte instead of "
                                           "STARTTLS (RFC 8314: port 465); unset: on when the port is 465.")
    smtp_username: str = Field("", description="SMTP AUTH user name; empty: no authentication.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP AUTH password (from a secret, never the "
                                     "ConfigMap).")
    smtp_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one SMTP conversation.")
    email_from: str = Field(
        "secondlook <notices@secondlook.example>", description="The From address of e-mail notices."
    )
    sms_provider: Literal["", "file", "twilio"] = Field(
        "", description="How notify sends text messages to people: empty (none), file (development: each "
        "message appended to SECONDLOOK_SMS_FILE) or twilio (Twilio's Messages API)."
    )
    sms_file: Path | None = Field(None, description="Where the file provider appends messages (JSON lines).")
    sms_from: str = Field("", description="The sender of text messages (an E.164 number, or a Twilio "
                          "messaging service sid MG...).")
    twilio_account_sid: str = Field("", description="The Twilio account (AC...) of the twilio SMS provider.")
    twilio_auth_token: SecretStr = Field(SecretStr(""), description="Its auth token (from a secret, never the "
                                         "ConfigMap).")
    twilio_api_base: str = Field("https://api.twilio.com", description="Twilio's API address (a test or a "
                                 "regional edge may point elsewhere).")
    notify_portal_url: str = Field(
        "https://portal.secondlook.example", description="Where an e-mail notice tells its reader to sign in "
        "(the only link a notice carries)."
    )
    notify_templates_dir: Path | None = Field(
        None, description="A folder of e-mail templates (<language>/<template>.<part>) in place of the built-in "
        "ones (services/notify/templates): copy that folder to customise the wording."
    )
    matching_offer_ttl_seconds: int = Field(
        86400, gt=0, description="How long a specialist has to answer the offer of a standard case; then it "
        "expires and the case is offered to the next candidate."
    )
    matching_offer_ttl_expedited_seconds: int = Field(
        4 * 3600, gt=0, description="The same for an expedited case (its whole clock is 72 hours)."
    )
    matching_offer_max_attempts: int = Field(
        5, ge=1, description="Offers of a case (per panel seat) that may be declined or expire before the case "
        "goes UNMATCHED with an escalation."
    )
    matching_capacity_wait_seconds: int = Field(
        86400, ge=0, description="A case nobody can take now, but specialists eligible for it at capacity could, waits this long (MATCHING, `case.waiting` on its timeline) and is offered as soon as slots come free; then it goes UNMATCHED. 0: unmatched at once."
    )
    matching_panel_size: int = Field(
        3, ge=2, le=10, description="Reviewers a panel case is offered to, each from a distinct organisation."
    )
    review_blind_tenants: list[str] = Field(
        [], description="Tenants every case of which is reviewed blind, whether or not the case asks for it "
        "(a JSON list of tenant ids): the reviewer records their own assessment before the first opinion's "
        "conclusions are shown.")
    review_sla_standard_seconds: int = Field(
        7 * 24 * 3600, gt=0, description="The review's SLA clock for a standard case: 7 calendar days (the "
        "CMS-0057-F figure for prior authorization, used for second opinions too). It runs from acceptance (or "
        "the first records, for a case without any) to the opinion, paused while the case is NEEDS_INFO.")
    review_sla_expedited_seconds: int = Field(
        72 * 3600, gt=0, description="The same for an expedited case: 72 hours.")
    review_prior_auth_standard_seconds: int = Field(
        7 * 24 * 3600, gt=0, description="A prior authorization's decision clock for a standard request: 7 "
        "calendar days from its receipt (CMS-0057-F). It runs from when intake received the request, whoever "
        "accepts it; reminders and the breach escalation as for a review's clock.")
    review_prior_auth_expedited_seconds: int = Field(
        72 * 3600, gt=0, description="The same for an expedited request: 72 hours (CMS-0057-F).")
    review_sla_reminder_fractions: list[float] = Field(
        [0.5, 0.8], description="Fractions of the clock at which the reviewer is reminded (a JSON list; [] for "
        "none); at the whole of it the clock is breached and operations are told (sla.changed BREACHED).")
    matching_max_concurrency: int = Field(
        1, ge=1, description="Batches of cases matching applies at once (instead of "
        "SECONDLOOK_CONSUMER_MAX_CONCURRENCY): a burst of cases competes for the same few best specialists' "
        "slots; within a batch their reservations are made one after another in one transaction, while "
        "batches applied at once would only conflict and start again."
    )
    follow_change_streams: bool = Field(
        True, description="review and intake follow the store's change streams (of assignments, of cases), so a "
        "client watching on one replica (WatchAssignments, WatchCase) sees changes committed on another. A single "
        "replica needs only its own commits: the dev stack turns it off.",
    )
    matching_weight_fit: float = Field(
        0.35, ge=0, description="Weight of the specialty's fit (its place in the specialty map, the specialist's "
        "subspecialty focus) in a candidate's score.")
    matching_weight_load: float = Field(0.25, ge=0, description="Weight of the specialist's free capacity.")
    matching_weight_turnaround: float = Field(
        0.2, ge=0, description="Weight of the specialist's turnaround against the case's clock (3 days expedited, "
        "7 standard).")
    matching_weight_quality: float = Field(0.2, ge=0, description="Weight of the specialist's quality score.")
    matching_cover_secondary_diagnoses: bool = Field(
        False, description="When no specialty covers the primary diagnosis, match on the first secondary "
        "diagnosis that has one.")
    matching_directory_seed: Path | None = Field(
        None, description="JSON file of specialists that matching loads when its directory is empty."
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_servers(cls, value: str) -> str:
        servers = [part.strip() for part in value.split(",") if part.strip()]
        if not servers:
            raise ValueError("must list the brokers as host[:port], comma-separated")
        return ",".join(servers)

    def missing_for_a_service(self) -> list[tuple[str, str]]:
        """(variable, problem) of what a running service needs and a tool may go without."""
        if not self.jwt_secret.get_secret_value():
            return [("SECONDLOOK_JWT_SECRET", "is required: every gRPC call's token is verified with it")]
        return []

    @field_validator("operations_email")
    @classmethod
    def _operations_email(cls, value: str) -> str:
        addresses = [a.strip() for a in value.split(",") if a.strip()]
        for address in addresses:
            try:
                email_validator.validate_email(address, check_deliverability=False)
            except email_validator.EmailNotValidError as exc:
                raise ValueError(f"{address[:60]!r} is not an e-mail address: {exc}") from None
        return ", ".join(addresses)

    @field_validator("mongo_uri")
    @classmethod
    def _mongo_uri(cls, value: str) -> str:
        if value.startswith("mongodb+srv://"):
            return value  # its hosts come from DNS when the driver connects
        if not value.startswith("mongodb://"):
            raise ValueError("must begin mongodb:// or mongodb+srv://")
        try:
            uri_parser.parse_uri(value, warn=True)  # an option the driver does not know is its warning, as it is
        except (PyMongoError, ValueError, OSError) as exc:  # OSError: a tlsCAFile that is not there
            # The driver's words, without the URI (it may hold a password).
            raise ValueError(f"is not a MongoDB connection string: {str(exc).replace(value, '…')[:200]}") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        level = value.strip().upper()
        return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level)  # stdlib logging's other names

    @field_validator("intake_target", "matching_target")
    @classmethod
    def _target(cls, value: str) -> str:
        if value.startswith(("unix:", "unix-abstract:")) and len(value) > len("unix:") and " " not in value:
            return value  # a Unix domain socket, as gRPC names one
        host, _, port = value.rpartition(":")
        if not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535 \
                or any(c.isspace() for c in value):
            raise ValueError(f"{value[:60]!r} is not a gRPC address: host:port, as intake:50051")
        return value

    @field_validator("email_from")
    @classmethod
    def _email_from(cls, value: str) -> str:
        # Any address a relay may take (a .local or .test domain among them): the name and
        # address form, or the address, one @ between a local part and a domain.
        _, address = email.utils.parseaddr(value)
        local, _, domain = address.rpartition("@")
        if not local or not domain or any(c.isspace() for c in address):
            raise ValueError(f"{value[:60]!r} has no e-mail address (name <address>, or an address)")
        return value

    @field_validator("fhir_base_url")
    @classmethod
    def _fhir_base(cls, value: str) -> str:
        if value and (not value.startswith(("https://", "http://")) or any(c.isspace() for c in value)
                      or "?" in value or "#" in value):
            raise ValueError(f"{value[:60]!r} is not an http(s) URL without query or fragment")
        return value.rstrip("/")

    @field_validator("notify_portal_url")
    @classmethod
    def _portal(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or len(value) < 10 or any(c.isspace() for c in value):
            raise ValueError(f"{value[:60]!r} is not an http(s) URL: the one link a notice carries")
        return value

    @field_validator("review_sla_reminder_fractions")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("each reminder fraction is between 0 and 1 (exclusive)")
        return sorted(set(value))

    def database_for(self, service: str) -> str:
        return f"{self.mongo_database_prefix}_{service}"


def setting_problems(exc: Exception) -> list[tuple[str, str]]:
    """(environment variable, what is wrong) for each bad setting, never its value (a
    setting may be a secret): of a ValidationError, or of pydantic-settings'
    SettingsError for a value it could not even parse (a list that is no JSON)."""
    if not isinstance(exc, ValidationError):
        match = re.search(r'field "([a-z_0-9]+)"', str(exc))
        name = f"SECONDLOOK_{match.group(1).upper()}" if match else "a SECONDLOOK_ setting"
        return [(name, "could not be read: a list or a mapping is given as JSON, e.g. [\"a\", \"b\"]")]
    found = []
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error.get("loc") else "?"
        found.append((f"SECONDLOOK_{name.upper()}", error["msg"].removeprefix("Value error, ")))
    return found

"""The one settings object, read from SECONDLOOK_* environment variables.

The same code runs against the embedded broker and store or against real Kafka
and MongoDB clusters: only these values change. README.md has the table.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SECONDLOOK_", extra="ignore")

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
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_SSL, ...")

    # --- MongoDB ---------------------------------------------------------------
    mongo_uri: str = Field(
        "mongodb://127.0.0.1:27017/?directConnection=true",
        description="MongoDB connection string; must reach a replica set (transactions).",
    )
    mongo_database_prefix: str = Field(
        "secondlook",
        description="Each service owns the database `<prefix>_<service>`; services never share one.",
    )

    # --- Service endpoints -----------------------------------------------------
    grpc_host: str = Field("0.0.0.0", description="Address the gRPC server binds.")
    grpc_port: int = Field(50051, description="Port of this service's gRPC server.")
    grpc_max_message_bytes: int = Field(
        4 * 1024 * 1024, description="Largest request accepted; larger ones get RESOURCE_EXHAUSTED."
    )
    metrics_port: int = Field(9464, description="Port of the Prometheus /metrics endpoint; 0 disables.")

    # --- Auth ------------------------------------------------------------------
    jwt_secret: SecretStr = Field(
        SecretStr(""),
        description="HS256 key that signs bearer tokens. Required; never committed. "
        "The dev stack generates one per run.",
    )
    jwt_issuer: str = Field("secondlook-dev", description="Expected `iss` claim.")
    jwt_audience: str = Field("secondlook", description="Expected `aud` claim.")

    # --- Behaviour -------------------------------------------------------------
    log_level: str = Field("INFO", description="Log level of the JSON logs.")
    outbox_poll_seconds: float = Field(
        0.5,
        gt=0,
        description="How often the outbox relay looks for unpublished events it was not woken for "
        "(written by another replica, or left by a failed publish).",
    )
    consumer_max_attempts: int = Field(
        5, ge=1, description="Attempts at an event before it goes to the dead-letter topic."
    )
    sweeper_interval_seconds: float = Field(5.0, gt=0, description="How often intake looks for stuck cases.")
    sweeper_stuck_after_seconds: float = Field(
        30.0, gt=0, description="A case whose status has not moved for this long is re-driven."
    )
    webhook_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of one webhook POST.")
    webhook_allow_insecure_targets: bool = Field(
        False,
        description="Accept http:// and loopback or private-network webhook URLs. Development only: "
        "the dev stack turns it on for its local receiver.",
    )
    delivery_max_attempts: int = Field(
        8, ge=1, description="Webhook attempts (exponential backoff with jitter) before a delivery is dead."
    )
    matching_offer_ttl_seconds: int = Field(
        86400, gt=0, description="How long a specialist has to accept an offer."
    )
    matching_directory_seed: Path | None = Field(
        None, description="JSON file of specialists that matching loads when its directory is empty."
    )

    def database_for(self, service: str) -> str:
        return f"{self.mongo_database_prefix}_{service}"

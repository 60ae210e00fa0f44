"""The one logging setup: structured JSON lines on stdout.

Context (service, case id, trace id) is bound with contextvars so every line
written while handling a case carries it. Log ids and codes only: never a
patient's name, contact details, dates or narratives.
"""

from __future__ import annotations

import logging
import sys

import structlog

bind_contextvars = structlog.contextvars.bind_contextvars
bound_contextvars = structlog.contextvars.bound_contextvars
get_logger = structlog.get_logger


def configure_logging(service: str, level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    # Libraries (kafka-python, pymongo, stamina) log through stdlib logging: route
    # their warnings into the same JSON stream so one process has one format. Their
    # own threads (kafka-python's heartbeat, its sender) see none of the context bound
    # below, so the service is named here too.
    def named(_logger, _method, event: dict) -> dict:
        event.setdefault("service", service)
        return event

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(), foreign_pre_chain=[*shared, named]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)

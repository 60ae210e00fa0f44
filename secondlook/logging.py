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
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _exception_named,
                        structlog.processors.JSONRenderer()],
            foreign_pre_chain=[*shared, named],
        )
    )

    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def _exception_named(_logger, _method, event: dict) -> dict:
    """A library's line logged with an exception (aiohttp's "Error handling request")
    names its type and the project's innermost frame, not a traceback: an exception's
    text may quote a request's values."""
    exc_info = event.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[1] is not None:
        from secondlook.failures import where  # the failures module logs through this one
        event.setdefault("error", exc_info[0].__name__)
        event.setdefault("at", where(exc_info[1]))
    return event

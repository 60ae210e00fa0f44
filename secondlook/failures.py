"""What an API answers when a call fails on something other than its input: the same
rules for gRPC (grpcserver.OutageInterceptor) and HTTP (intake's FHIR endpoint).

A call that fails for want of the store is an outage the client retries (UNAVAILABLE,
503); any other failure is a bug, answered with a reference to the one log line that
names it, never with the exception's own text (a store's or library's message may
quote the request's values, and says nothing a client can act on).
"""

from __future__ import annotations

import traceback
import uuid
from pathlib import Path

from pymongo.errors import ConnectionFailure, PyMongoError

from secondlook.consumer import StoreUnavailable

STORE_DOWN = "the store cannot be reached: try again shortly"
STORE_BUSY = "the store could not complete the request: try again shortly"
RETRY_AFTER_SECONDS = 5  # what an HTTP outage suggests in Retry-After


def outage(exc: BaseException) -> str | None:
    """What to tell a client when `exc` is the store being away or a transient store
    error the driver itself labels (a write conflict, a primary stepping down, a lost
    connection): the same call may well succeed again. None for anything else."""
    if isinstance(exc, ConnectionFailure | StoreUnavailable):
        return STORE_DOWN
    if isinstance(exc, PyMongoError) and (
            exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError")):
        return STORE_BUSY
    return None


# The project's packages, side by side in a checkout and in site-packages alike (tests:
# where the tests' own handlers are).
_OURS = tuple(str(Path(__file__).parent.parent / name) + "/" for name in ("secondlook", "services", "tests"))


def where(exc: BaseException) -> str | None:
    """file:line of the project's own innermost frame (a library's says little)."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    ours = [f for f in frames if f.filename.startswith(_OURS)]
    frame = (ours or frames or [None])[-1]
    return f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}" if frame else None


def new_reference() -> str:
    """The reference a failure's answer and its log line share."""
    return uuid.uuid4().hex[:12]


def internal_error(reference: str) -> str:
    return f"internal error, reference {reference}: operations can look it up in the logs"

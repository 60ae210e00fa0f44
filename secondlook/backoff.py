"""The one backoff: stamina (exponential backoff with full jitter), set up once.

- `attempts(...)`: bounded retries of one operation, for `async for ... with`.
- `forever(...)`: the loop every long-running part shares (relay, sweeper,
  dispatcher): do a step, rest when there was nothing to do, and on failure
  back off and try again, for as long as the process lives.
Retries are logged with the error's class only, never its text: an error
can quote a document, and documents hold PHI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from contextvars import ContextVar

import stamina
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from secondlook.logging import get_logger

log = get_logger(__name__)

RetryOn = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]


# What is being retried, for the log: a `forever` loop names its step for its task.
_OPERATION: ContextVar[str] = ContextVar("retried_operation", default="")


def _log_retry(details: RetryDetails) -> None:
    named = details.name if not details.name.startswith("<") else _OPERATION.get() or details.name
    # The error's code where it has one (a gRPC status, a MongoDB error number): what
    # went wrong, without the error's text.
    code = getattr(details.caused_by, "code", None)
    code = code() if callable(code) else code
    code = getattr(code, "name", code)
    log.warning("retrying", operation=named, retry=details.retry_num, wait_seconds=round(details.wait_for, 2),
                error=type(details.caused_by).__name__, **({"code": code} if isinstance(code, (str, int)) else {}))


set_on_retry_hooks([_log_retry])


def attempts(on: RetryOn, *, attempts: int | None, wait_initial: float = 0.2, wait_max: float = 5.0,
             timeout: float | None = None):
    """stamina's retry context: `async for attempt in attempts(...): with attempt: ...`.
    `attempts=None` and `timeout=None` retry for as long as it takes. A predicate
    `on` is only asked about errors: stamina would also hand it a cancellation,
    and retrying one would keep a stopping service's work going."""
    predicate = on if callable(on) and not isinstance(on, (type, tuple)) else (lambda exc: isinstance(exc, on))

    def retryable(exc: BaseException) -> bool:
        # A library may turn the task's cancellation into an error of its own
        # (pymongo's _OperationCancelled): retrying it would keep a stopping part going.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            return False
        return isinstance(exc, Exception) and predicate(exc)

    return stamina.retry_context(on=retryable, attempts=attempts, timeout=timeout, wait_initial=wait_initial,
                                 wait_max=wait_max, wait_jitter=wait_initial)


def name_retries(operation: str) -> None:
    """Names what this task retries in its `retrying` log lines (the tasks it starts too)."""
    _OPERATION.set(operation)


@contextmanager
def retries_named(operation: str):
    """Names what is retried inside the block, in its `retrying` log lines."""
    token = _OPERATION.set(operation)
    try:
        yield
    finally:
        _OPERATION.reset(token)


async def forever(step: Callable[[], Awaitable[bool]], rest: Callable[[], Awaitable[None]]) -> None:
    """Runs `step` until cancelled. `step` returns True when it did work (run it
    again at once) and False when there was nothing to do (await `rest` first).
    A failing step is retried with backoff; the failure never ends the loop."""
    name_retries(getattr(step, "__qualname__", "a loop's step"))
    while True:
        async for attempt in attempts(Exception, attempts=None):
            with attempt:
                busy = await step()
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # cancelled in a step whose library swallowed it (pymongo)
            raise asyncio.CancelledError
        if not busy:
            await rest()

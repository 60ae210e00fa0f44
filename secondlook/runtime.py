"""Running one service process: its concurrent parts, start-up and clean stop.

Every service is a handful of long-running coroutines (gRPC server, consumer,
outbox relay, sweepers). If one fails the process exits non-zero, so the
supervisor (Kubernetes, or the dev stack) restarts it; nothing is left half-up.
SIGTERM and SIGINT stop it cleanly.

Once started, what the process loaded (the ICD-10-CM code tree alone is ~600,000
objects, in every service) is moved out of the garbage collector's way: every
full collection used to walk it, 200-320 ms in which the process did nothing else
(measured in matching and intake under load: the longest hops of `make bench`'s
half-rate run were these pauses). What a service loads later is not frozen:
matching's directory is read on first use and again every hour, and a frozen copy
would never be freed.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from secondlook.logging import get_logger

log = get_logger(__name__)


@dataclass
class Service:
    name: str
    # Started in order; each returns once its part is ready.
    startup: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    # Long-running loops, started after startup.
    loops: list[Callable[[], Coroutine[Any, Any, Any]]] = field(default_factory=list)
    # Run in reverse order on the way out.
    shutdown: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)


def settle_heap() -> None:
    """Collects start-up's garbage, then freezes what is left: it lives as long as the
    process, and frozen objects are never walked by a collection again."""
    gc.collect()
    gc.freeze()


async def run(service: Service) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task] = []
    code = 0
    try:
        for step in service.startup:
            await step()
        settle_heap()
        tasks = [asyncio.create_task(fn(), name=fn.__qualname__) for fn in service.loops]
        log.info("service_started")
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper and not t.cancelled() and t.exception() is not None:
                log.error("service_part_failed", part=t.get_name(), error=repr(t.exception()))
                code = 1
        stopper.cancel()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for step in reversed(service.shutdown):
            try:
                await step()
            except Exception as exc:
                log.warning("shutdown_step_failed", step=getattr(step, "__qualname__", "?"), error=repr(exc))
        log.info("service_stopped", exit_code=code)
        # Only now: a second signal while stopping must not cut the shutdown short.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return code

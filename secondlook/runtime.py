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
import os
import signal
import sys
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


_exit = os._exit  # ends the process without waiting on its threads (a test replaces it)
# How long a part may take to stop once cancelled, and a shutdown step to finish.
STOP_GRACE_SECONDS = 10.0
# Each shutdown step's bound: with the parts' grace and the pod's preStop (5 s), well
# within Kubernetes' terminationGracePeriodSeconds (45 s in deploy/k8s).
SHUTDOWN_STEP_SECONDS = 5.0
# A start-up step still under way after this long is named in the log, again and again.
SLOW_START_SECONDS = 30.0


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


class _Stuck(Exception):
    """A start-up step that did not stop when cancelled."""


async def _start(step: Callable[[], Awaitable[Any]], stop: asyncio.Event) -> bool:
    """Runs one start-up step; False when the process was asked to stop first (the
    step is then cancelled). A step that hangs is named every SLOW_START_SECONDS."""
    task = asyncio.ensure_future(step())
    stopper = asyncio.ensure_future(stop.wait())
    waited = 0.0
    try:
        while True:
            done, _ = await asyncio.wait([task, stopper], timeout=SLOW_START_SECONDS,
                                         return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                task.result()  # its failure, if it failed
                return True
            if stopper in done:
                task.cancel()
                _, pending = await asyncio.wait([task], timeout=STOP_GRACE_SECONDS)
                if pending:
                    raise _Stuck(_name(step))
                return False
            waited += SLOW_START_SECONDS
            log.warning("service_start_slow", step=_name(step), waited_seconds=waited)
    finally:
        stopper.cancel()


async def run(service: Service) -> int:
    """Starts the service, runs its parts until a signal or one part's failure, then
    stops it. Returns the exit code: 0 for a stop asked for, 1 for a failure. A part
    that will not stop (a library that swallowed its cancellation, a thread that
    never returns) is named and the process ends anyway: a supervisor can only
    restart a process that exits."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task] = []
    code, stuck = 0, False
    try:
        for step in service.startup:
            try:
                if not await _start(step, stop):
                    log.info("service_stopped_while_starting", step=_name(step))
                    return code
            except _Stuck:
                log.error("service_parts_did_not_stop", parts=[_name(step)])
                stuck = True
                return code
            except Exception as exc:
                # Nothing was served yet: the error's text names a setting or an address, no PHI.
                log.error("service_start_failed", step=_name(step), error=repr(exc)[:500])
                code = 1
                return code
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
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            if pending:
                log.error("service_parts_did_not_stop", parts=sorted(t.get_name() for t in pending))
                stuck = True
        for step in reversed(service.shutdown):
            try:
                await asyncio.wait_for(step(), SHUTDOWN_STEP_SECONDS)
            except Exception as exc:  # TimeoutError among them
                log.warning("shutdown_step_failed", step=_name(step), error=repr(exc))
        log.info("service_stopped", exit_code=code)
        # Only now: a second signal while stopping must not cut the shutdown short.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if stuck:  # asyncio.run would wait for them for ever: end here
            sys.stdout.flush()
            _exit(code or 1)
    return code

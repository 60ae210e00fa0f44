"""The service runtime: start-up, then what start-up loaded kept out of the collector's way."""

from __future__ import annotations

import asyncio
import gc
import signal

from secondlook.runtime import Service, run


async def test_what_start_up_loaded_is_frozen_before_the_loops_run():
    loaded: list[object] = []
    seen: dict[str, object] = {}

    async def load_reference_data() -> None:
        loaded.extend([i] for i in range(1_000))  # long-lived objects, as a code table

    async def loop() -> None:
        seen["frozen"] = gc.get_freeze_count()
        # Frozen objects are in no generation a collection walks.
        seen["walked"] = any(o is loaded[0] for o in gc.get_objects())

    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        code = await asyncio.wait_for(run(Service("test", startup=[load_reference_data], loops=[loop])), 10)
    finally:
        gc.unfreeze()
    assert code == 0
    # Its SIGTERM and SIGINT handlers went with it (remove_signal_handler: False, none left).
    loop = asyncio.get_running_loop()
    assert not loop.remove_signal_handler(signal.SIGTERM) and not loop.remove_signal_handler(signal.SIGINT)
    assert gc.is_tracked(loaded[0]) and any(o is loaded[0] for o in gc.get_objects())  # walked again, unfrozen
    assert seen["walked"] is False
    assert seen["frozen"] >= len(loaded)


async def stubborn() -> None:
    """A coroutine that ignores its cancellation, as a library's swallowing one can."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue


def _forced_ends(monkeypatch) -> list[int]:
    """The codes the runtime ended the process with (instead of ending the test's)."""
    from secondlook import runtime
    ended: list[int] = []
    monkeypatch.setattr(runtime, "_exit", ended.append)
    return ended


def _drop_stubborn() -> None:
    for task in asyncio.all_tasks():  # left behind by the test's stand-in for _exit
        if task.get_coro().__qualname__ == "stubborn":
            task.get_coro().close()


async def _quickly(service: Service, monkeypatch, grace: float = 0.3) -> int:
    from secondlook import runtime
    monkeypatch.setattr(runtime, "STOP_GRACE_SECONDS", grace)
    return await asyncio.wait_for(run(service), 10)


async def test_one_part_failing_stops_the_others_even_one_whose_library_swallows_its_cancellation(monkeypatch):
    from secondlook import backoff

    async def swallowing_step() -> bool:  # as a pymongo call cancelled mid-request can
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass
        return False

    async def failing() -> None:
        await asyncio.sleep(0.05)
        raise OSError(98, "address already in use")

    stopped: list[str] = []

    async def shut() -> None:
        stopped.append("shutdown")

    service = Service("test", loops=[lambda: backoff.forever(swallowing_step, lambda: asyncio.sleep(3600)), failing],
                      shutdown=[shut])
    from structlog.testing import capture_logs
    ended = _forced_ends(monkeypatch)
    with capture_logs() as logs:
        assert await _quickly(service, monkeypatch, grace=5) == 1
    assert stopped == ["shutdown"] and ended == []  # every part stopped: no forced end
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["service_part_failed"]  # none left running


async def test_a_part_that_never_stops_is_named_and_the_process_ends_anyway(monkeypatch):
    from structlog.testing import capture_logs
    ended = _forced_ends(monkeypatch)

    async def failing() -> None:
        raise RuntimeError("boom")

    with capture_logs() as logs:
        await _quickly(Service("test", loops=[stubborn, failing]), monkeypatch)
    assert ended == [1]
    [stuck] = [e for e in logs if e["event"] == "service_parts_did_not_stop"]
    assert stuck["parts"] == ["stubborn"]
    _drop_stubborn()


async def test_a_failed_start_is_an_error_naming_the_step_and_exit_code_1(monkeypatch):
    from structlog.testing import capture_logs

    async def connect() -> None:
        raise ConnectionRefusedError("127.0.0.1:2")

    with capture_logs() as logs:
        assert await _quickly(Service("test", startup=[connect]), monkeypatch) == 1
    [failed] = [e for e in logs if e["event"] == "service_start_failed"]
    assert failed["step"].endswith("connect") and "ConnectionRefusedError" in failed["error"]
    assert [e["exit_code"] for e in logs if e["event"] == "service_stopped"] == [1]


async def test_a_signal_while_a_start_up_step_hangs_stops_the_service(monkeypatch):
    import os

    async def connect_for_ever() -> None:
        await asyncio.sleep(3600)

    async def signal_soon() -> None:
        await asyncio.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(signal_soon()))
    assert await _quickly(Service("test", startup=[connect_for_ever]), monkeypatch) == 0


async def test_a_loops_retries_are_logged_naming_its_step():
    from structlog.testing import capture_logs

    from secondlook import backoff
    failures = [RuntimeError("x"), RuntimeError("y")]

    async def relay_step() -> bool:
        if failures:
            raise failures.pop()
        raise asyncio.CancelledError  # done: leave the loop

    with capture_logs() as logs:
        try:
            await asyncio.create_task(backoff.forever(relay_step, lambda: asyncio.sleep(0)))
        except asyncio.CancelledError:
            pass
    named = [e["operation"] for e in logs if e["event"] == "retrying"]
    assert named and all(n.endswith("relay_step") for n in named)


async def test_a_start_up_step_that_ignores_its_cancellation_ends_the_process(monkeypatch):
    import os
    ended = _forced_ends(monkeypatch)

    async def signal_soon() -> None:
        await asyncio.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(signal_soon()))
    await _quickly(Service("test", startup=[stubborn]), monkeypatch)
    assert ended == [1]
    _drop_stubborn()


def test_the_series_the_alerts_watch_exist_at_0_from_the_start():
    from prometheus_client import REGISTRY

    from secondlook import metrics
    metrics.declare_alerted_series("notify")
    metrics.declare_alerted_series("matching")
    assert REGISTRY.get_sample_value("secondlook_delivery_attempts_total",
                                     {"service": "notify", "channel": "webhook", "outcome": "dead"}) is not None
    assert REGISTRY.get_sample_value("secondlook_stage_events_total",
                                     {"service": "matching", "event_type": "case.unmatched"}) is not None
    assert REGISTRY.get_sample_value("secondlook_dead_letters_total",
                                     {"service": "notify", "reason": "exhausted"}) is not None

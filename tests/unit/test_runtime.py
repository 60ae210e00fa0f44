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

"""Helpers shared by every test layer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from secondlook.settings import Settings


class Pending:
    """A check's "not yet, and why": falsy, and what `eventually` reports if it times out."""

    def __init__(self, why: object):
        self.why = why

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return str(self.why)


async def eventually(check: Callable[[], Awaitable[object]], timeout: float, what: str, interval: float = 0.1):
    """Awaits `check` until it returns something truthy; fails naming `what` on timeout.

    The one way tests wait: on a condition, never on a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt_secret="unit-test-signing-key-not-a-secret-0123456789")

"""End-to-end fixtures: the whole platform as processes, and a real webhook receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.smtpsink import SmtpSink
from devstack.stack import Stack, leftovers
from secondlook.settings import Settings

pytestmark = pytest.mark.e2e

# Short clocks so a case stuck by a lost event is re-driven within seconds, a
# webhook that keeps failing gives up after two attempts, and an expedited prior
# authorization breaches its clock.
FAST = {
    "SECONDLOOK_SWEEPER_STUCK_AFTER_SECONDS": "3",
    "SECONDLOOK_SWEEPER_INTERVAL_SECONDS": "1",
    "SECONDLOOK_DELIVERY_MAX_ATTEMPTS": "2",
    # An expedited prior authorization's CMS clock (72 h) as a few seconds: its breach is tested.
    "SECONDLOOK_REVIEW_PRIOR_AUTH_EXPEDITED_SECONDS": "4",
}


def start_stack(home: Path, overrides: dict[str, str] | None = None) -> Stack:
    stack = Stack(home, overrides={**FAST, **(overrides or {})})
    try:
        stack.start()
    except Exception:
        logs = "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in stack.processes())
        stack.stop()
        raise RuntimeError(f"stack failed to start:\n{logs}") from None
    return stack


@pytest.fixture(scope="session")
def mail():
    """The SMTP relay of the session's stack: every e-mail notice it sends lands here."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, mail):
    stack = start_stack(tmp_path_factory.mktemp("stack"), mail.overrides())
    yield stack
    stack.stop()
    assert leftovers(stack.home) == [], "processes outlived the stack"


@pytest.fixture(scope="session")
def stack_settings(stack) -> Settings:
    return Settings(jwt_secret=stack.jwt_secret)

"""Which of a reviewer's assignments a page of the inbox holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class InboxPage:
    """Which of a specialist's assignments, and after which (by offer time, then id)."""

    states: tuple[int, ...] = ()
    urgency: int = 0
    after: tuple[datetime, str] | None = None

"""Counts the requests a Store sends (a pymongo command listener), for assertions."""

from __future__ import annotations

import collections

from pymongo import monitoring


class StoreRequests(monitoring.CommandListener):
    """`counts[command]` and `on[(command, collection)]`, e.g. on[("update", "outbox")]."""

    def __init__(self):
        self.counts: collections.Counter = collections.Counter()
        self.on: collections.Counter = collections.Counter()

    def started(self, event):
        self.counts[event.command_name] += 1
        target = event.command.get(event.command_name)
        self.on[(event.command_name, target if isinstance(target, str) else "")] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def total(self) -> int:
        return sum(self.counts.values())

    def clear(self) -> None:
        self.counts.clear()
        self.on.clear()

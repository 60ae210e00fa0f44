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


class QueryPlans(monitoring.CommandListener):
    """Records what a repository asks of the store, then names each request the
    embedded store can only serve by reading the whole collection. Measured on it
    (4,000 documents): findAndModify's write, and any filter with a top-level
    operator such as $or, scan (50-135 ms a request against ~0.5 ms for the same
    work as an indexed read and a guarded update). Its `explain` is not used: its
    plan is a separate estimate that disagrees with what the store executes."""

    # libmongocrypt's own lookup of data keys ($or over a handful of keys).
    KEY_VAULT = "datakeys"

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []

    def started(self, event):
        if event.command.get(event.command_name) == self.KEY_VAULT:
            return
        if event.command_name in ("find", "findAndModify", "update", "delete", "count"):
            self.requests.append((event.command_name, dict(event.command)))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def scans(self) -> list[str]:
        found = []
        for name, command in self.requests:
            collection = command[name]
            if name == "findAndModify":
                found.append(f"{collection}: findAndModify {command.get('query')}")
                continue
            if name == "update":
                filters = [u["q"] for u in command["updates"]]
            elif name == "delete":
                filters = [d["q"] for d in command["deletes"]]
            else:
                filters = [command.get("filter") or command.get("query") or {}]
            found += [f"{collection}: {name} with a top-level operator {f}"
                      for f in filters if any(key.startswith("$") for key in f)]
        return found

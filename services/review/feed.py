"""The reviewers' feed: assignment changes fanned out, in process, to the
WatchAssignments streams of the specialists they belong to (the kernel's Feed,
keyed by specialist).

Review's own commits publish to it at once (after commit); with several
replicas, each also follows the store's change stream (repository.follow_changes),
so a change committed by another replica reaches the streams held here. A change
is passed on once per version, whichever way it came first.

It also keeps the latest version it passed on of the open assignments changed
lately, whole: a reviewer's next move starts from it instead of a read
(usecases._act). One that is closed (declined, expired, withdrawn, its opinion
signed) takes no such move, and is not kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from secondlook.feed import Feed, Watcher

from .domain.assignment import OPEN, Assignment

VERSIONS_KEPT = 100_000  # assignments whose last version the feed remembers
LATEST_KEPT = 10_000  # ... and whose last version it keeps whole (open ones)


class AssignmentFeed:
    def __init__(self, on_change: Callable[[Assignment], None] = lambda _: None) -> None:
        """`on_change`: also told each new version (the SLA clocks' keeper arms on it)."""
        self._feed: Feed[Assignment] = Feed()
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._latest: OrderedDict[str, Assignment] = OrderedDict()
        self._on_change = on_change

    def publish(self, assignment: Assignment) -> None:
        """A committed change; a version already passed on is dropped."""
        if self._versions.get(assignment.assignment_id, 0) >= assignment.version:
            return
        self._versions[assignment.assignment_id] = assignment.version
        self._versions.move_to_end(assignment.assignment_id)
        while len(self._versions) > VERSIONS_KEPT:
            self._versions.popitem(last=False)
        if assignment.state in OPEN:
            self._latest[assignment.assignment_id] = assignment
            self._latest.move_to_end(assignment.assignment_id)
            while len(self._latest) > LATEST_KEPT:
                self._latest.popitem(last=False)
        else:
            self._latest.pop(assignment.assignment_id, None)
        self._feed.publish(assignment.specialist_id, assignment)
        self._on_change(assignment)

    def latest(self, assignment_id: str) -> Assignment | None:
        """The last version of the assignment committed that this replica has seen (its
        own commits; with several replicas, the change stream's too), if it was lately.
        Possibly behind the store: whoever acts on it guards its write by the version."""
        return self._latest.get(assignment_id)

    def forget(self, assignment_id: str) -> None:
        """The version kept is behind the store's: not to be used again."""
        self._latest.pop(assignment_id, None)

    def subscribe(self, specialist_id: str) -> Watcher[Assignment]:
        return self._feed.subscribe(specialist_id)

    def unsubscribe(self, specialist_id: str, watcher: Watcher[Assignment]) -> None:
        self._feed.unsubscribe(specialist_id, watcher)

    def interrupt_all(self) -> None:
        self._feed.interrupt_all()

    @property
    def watching(self) -> int:
        return self._feed.watching

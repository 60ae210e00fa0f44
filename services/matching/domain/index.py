"""The directory in memory, indexed so that a case is matched without scanning it.

Specialists are bucketed by (specialty, jurisdiction of a licence): a case looks
only at the buckets of the specialties that cover it in its jurisdiction. Within a
bucket they are kept in order of the part of the score that does not depend on
the case (turnaround against each clock, and quality), so the best candidates are
found without scoring the rest: `best_first` walks the buckets from the highest
bound on what an unseen specialist could still score, scores them with the same
rules and score as `rank`, and hands one out once nobody unseen could beat it (the
threshold algorithm). Its order is exactly `rank`'s, which the property tests
check; it usually scores a few dozen specialists of thousands.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator
from datetime import date

from secondlook.v1.case_pb2 import Urgency

from .directory import Specialist
from .matcher import (
    CLOCK_DAYS,
    FIT_FOCUS,
    FIT_PLACE,
    Candidate,
    CaseFacts,
    Wanted,
    Weights,
    candidate_of,
    full_but_eligible,
    quality_part,
    rank,
    screen,
    turnaround_part,
)

URGENCIES = tuple(CLOCK_DAYS)
SLACK = 1e-4  # the score is rounded to four places: a bound this much higher stays a bound


class DirectoryIndex:
    def __init__(self, specialists: Iterable[Specialist], weights: Weights | None = None):
        self._weights = weights or Weights()
        self.last_scored = 0  # how many specialists the last best_first scored (the benchmark shows it)
        self._by_id: dict[str, Specialist] = {}
        # (specialty, jurisdiction, urgency) -> [(-static part, id)], ascending: best first.
        self._buckets: dict[tuple[str, str, int], list[tuple[float, str]]] = {}
        for s in specialists:
            self._add(s)

    # --- upkeep ------------------------------------------------------------------------
    def _static(self, s: Specialist, urgency: int) -> float:
        return (self._weights.turnaround * turnaround_part(s, urgency)
                + self._weights.quality * quality_part(s))

    def _keys(self, s: Specialist):
        for specialty in s.specialties:
            for jurisdiction in s.jurisdictions():
                for urgency in URGENCIES:
                    yield (specialty, jurisdiction, urgency), (-self._static(s, urgency), s.specialist_id)

    def _add(self, s: Specialist) -> None:
        self._by_id[s.specialist_id] = s
        for key, entry in self._keys(s):
            bisect.insort(self._buckets.setdefault(key, []), entry)

    def put(self, s: Specialist) -> None:
        """A specialist added or changed (by an admin, or their free slots). A bucket
        that changes is replaced, never edited: a `best_first` walking it meanwhile
        (it waits on a reservation between candidates) keeps the list it started
        with, and judges every specialist by what the index holds when it gets there."""
        old = self._by_id.get(s.specialist_id)
        before = list(self._keys(old)) if old is not None else []
        after = list(self._keys(s))
        self._by_id[s.specialist_id] = s
        if before == after:  # same buckets, same order: only what the buckets do not hold changed
            return
        for key, entry in before:
            bucket = list(self._buckets[key])
            del bucket[bisect.bisect_left(bucket, entry)]
            self._buckets[key] = bucket
        for key, entry in after:
            bucket = list(self._buckets.get(key, ()))
            bisect.insort(bucket, entry)
            self._buckets[key] = bucket

    def slots_taken(self, specialist_id: str, taken: int) -> None:
        """A reservation (1) or a release (-1): the buckets' order does not depend on it.
        Free slots go below zero, as in the store, when a capacity cut left more held."""
        s = self._by_id.get(specialist_id)
        if s is not None:
            self._by_id[specialist_id] = s.with_free_slots(min(s.capacity, s.free_slots - taken))

    def get(self, specialist_id: str) -> Specialist | None:
        return self._by_id.get(specialist_id)

    def everyone(self) -> list[Specialist]:
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    # --- matching ------------------------------------------------------------------------
    def candidates(self, specialties: tuple[str, ...], jurisdiction: str) -> list[Specialist]:
        """Everyone with one of the specialties and a licence (maybe expired) there, once each."""
        seen: dict[str, Specialist] = {}
        for specialty in specialties:
            for _, sid in self._buckets.get((specialty, jurisdiction, Urgency.URGENCY_STANDARD), ()):
                seen.setdefault(sid, self._by_id[sid])
        return list(seen.values())

    def best_first(self, facts: CaseFacts, wanted: Wanted, day: date) -> Iterator[Candidate]:
        """The eligible candidates in `rank`'s order, scoring only as many as it takes."""
        urgency = facts.urgency if facts.urgency in CLOCK_DAYS else Urgency.URGENCY_STANDARD
        w = self._weights
        frontier: list[tuple[float, int, int]] = []  # (-bound of the next unseen, bucket number, position)
        buckets = []
        for place, specialty in enumerate(wanted.specialties):
            bucket = self._buckets.get((specialty, facts.jurisdiction, urgency))
            if not bucket:
                continue
            # fit and load are rounded as the score rounds them (rounding never goes down
            # past a bound); the total's own rounding is what SLACK covers.
            fit_bound = round(FIT_PLACE * (1.0 - place / len(wanted.specialties)) + FIT_FOCUS, 4)
            dynamic = w.fit * fit_bound + w.load * 1.0 + SLACK
            buckets.append((bucket, dynamic))
            heapq.heappush(frontier, (-(dynamic - bucket[0][0]), len(buckets) - 1, 0))
        seen: set[str] = set()
        ready: list[tuple[float, str, int, Candidate]] = []  # scored, best first
        self.last_scored = scored = 0
        while frontier or ready:
            bound = -frontier[0][0] if frontier else float("-inf")
            if ready and ready[0][0] * -1 > bound:
                candidate = heapq.heappop(ready)[3]
                now = self._by_id[candidate.specialist.specialist_id]
                if now is candidate.specialist:
                    yield candidate
                elif screen(now, facts, wanted, day) is None:  # changed since it was scored: again
                    again = candidate_of(now, facts, wanted, w)
                    heapq.heappush(ready, (-again.score.total, again.tiebreak, scored, again))
                continue
            if not frontier:
                break
            _, b, pos = heapq.heappop(frontier)
            bucket, dynamic = buckets[b]
            if pos + 1 < len(bucket):
                heapq.heappush(frontier, (-(dynamic - bucket[pos + 1][0]), b, pos + 1))
            sid = bucket[pos][1]
            if sid in seen:
                continue
            seen.add(sid)
            s = self._by_id[sid]
            if screen(s, facts, wanted, day) is not None:
                continue
            candidate = candidate_of(s, facts, wanted, w)
            self.last_scored = scored = scored + 1
            heapq.heappush(ready, (-candidate.score.total, candidate.tiebreak, scored, candidate))

    def full_but_eligible(self, facts: CaseFacts, wanted: Wanted, day: date) -> list[Specialist]:
        """The candidates only a free slot keeps from the case."""
        return full_but_eligible(facts, wanted, self.candidates(wanted.specialties, facts.jurisdiction), day)

    def why_not(self, facts: CaseFacts, wanted: Wanted, day: date) -> str:
        """Why nobody could take the case (when `best_first` gave nobody)."""
        return rank(facts, wanted, self.candidates(wanted.specialties, facts.jurisdiction), day, self._weights)[1]

"""The open-loop half of `make bench`: cases arrive at a fixed rate, whatever
the pipeline does with them (a closed loop would slow down with it).

1. The sustained rate: steps of `step_seconds` at a rising arrival rate (×1.25
   a step, from a start below the burst's throughput); a rate is sustained when
   the backlog (submitted, not yet DELIVERED: webhooks received) stays bounded
   over the step: not growing over its last third, and under 5 s of arrivals at
   its end. The pipeline drains between steps.
2. Half of that rate for one step: submit → OFFERED and submit → DELIVERED
   p50/p99 and the per-hop breakdown, from the cases' timelines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console

from secondlook.v1 import case_pb2, intake_pb2

STEP_FACTOR = 1.25
MAX_STEPS = 8


@dataclass
class Step:
    rate: float
    case_ids: list[str] = field(default_factory=list)
    backlog: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the step, backlog)

    def sustained(self, seconds: float) -> bool:
        if not self.backlog:
            return False
        middle = [b for t, b in self.backlog if seconds / 3 <= t < 2 * seconds / 3]
        last = [b for t, b in self.backlog if t >= 2 * seconds / 3]
        if not middle or not last:
            return False
        growing = max(last) > max(middle) + self.rate  # more than a second of arrivals up
        return not growing and last[-1] <= 5 * self.rate


class OpenLoop:
    def __init__(self, intake, authed, delivered: Callable[[], set[str]], samples, console: Console,
                 step_seconds: float):
        self._intake = intake
        self._authed = authed
        self._delivered = delivered  # case ids whose webhook arrived
        self._samples = samples
        self._console = console
        self._seconds = step_seconds
        self._n = 0

    async def _submit(self, i: int) -> str:
        req = intake_pb2.SubmitCaseRequest()
        req.CopyFrom(self._samples[i % len(self._samples)])
        req.client_request_id = f"bench-open-{i:06d}"
        req.panel_requested = req.blind_review_requested = False  # one review per case, as the closed loop (pipeline.py)
        reply = await self._intake.SubmitCase(req, metadata=self._authed.metadata, timeout=60)
        return reply.case_id

    async def run_step(self, rate: float) -> Step:
        """Submits at `rate` for one step, on schedule (each submit its own task),
        sampling the backlog every half second."""
        step = Step(rate)
        count = int(rate * self._seconds)
        started = time.monotonic()
        tasks: list[asyncio.Task] = []

        async def sample() -> None:
            while True:
                await asyncio.sleep(0.5)
                done = {t.result() for t in tasks if t.done() and not t.exception()}
                step.backlog.append((time.monotonic() - started, len(tasks) - len(done & self._delivered())))

        sampler = asyncio.create_task(sample())
        try:
            for _ in range(count):
                self._n += 1
                tasks.append(asyncio.create_task(self._submit(self._n)))
                await asyncio.sleep(max(0.0, started + len(tasks) / rate - time.monotonic()))
        finally:
            sampler.cancel()
        step.case_ids = list(await asyncio.gather(*tasks))
        return step

    async def drain(self, case_ids: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        wanted = set(case_ids)
        while not wanted <= self._delivered():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.25)
        return True

    async def sustained_rate(self, start: float) -> float:
        """The highest stepped rate whose backlog stayed bounded."""
        rate, best = start, 0.0
        for _ in range(MAX_STEPS):
            with self._console.status(f"open loop: {rate:.1f} cases/s for {self._seconds:.0f}s"):
                step = await self.run_step(rate)
            ok = step.sustained(self._seconds)
            self._console.print(f"  open loop {rate:5.1f} cases/s: backlog at the end {step.backlog[-1][1]:4d} "
                                f"→ {'sustained' if ok else 'growing'}")
            with self._console.status("open loop: draining"):
                drained = await self.drain(step.case_ids, 180)
            if not ok or not drained:
                if best == 0.0 and rate > 0.5:  # even the first step was too much: start lower
                    rate /= 2
                    continue
                break
            best, rate = rate, rate * STEP_FACTOR
        return best

    async def latencies(self, rate: float, get_case) -> dict:
        """One step at `rate`; each case's submit → OFFERED and → DELIVERED, and its timeline."""
        with self._console.status(f"open loop at half the sustained rate: {rate:.1f} cases/s"):
            step = await self.run_step(rate)
            await self.drain(step.case_ids, 180)
        cases = []
        for start in range(0, len(step.case_ids), 50):
            cases += await asyncio.gather(*(get_case(c) for c in step.case_ids[start:start + 50]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # intake records DELIVERED a moment after the webhook went out
            late = [i for i, c in enumerate(cases)
                    if not any(e.status == case_pb2.CASE_STATUS_DELIVERED for e in c.timeline)]
            if not late:
                break
            await asyncio.sleep(0.1)
            for i in late:
                cases[i] = await get_case(step.case_ids[i])
        offered, delivered = [], []
        for case in cases:
            submitted = case.submitted_at.ToDatetime()
            for status, out in ((case_pb2.CASE_STATUS_OFFERED, offered), (case_pb2.CASE_STATUS_DELIVERED, delivered)):
                entry = next((e for e in case.timeline if e.status == status), None)
                if entry is not None:
                    out.append((entry.occurred_at.ToDatetime() - submitted).total_seconds())
        return {"rate": rate, "cases": len(cases), "offered": offered, "delivered": delivered,
                "timelines": [list(c.timeline) for c in cases]}

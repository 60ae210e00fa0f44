"""Readiness and liveness, published on gRPC health checking.

- Readiness (service "" and the service's own names): started, i.e. every consumer
  has held its place in its group and the producer has connected once. Kubernetes
  sends traffic only to a ready pod; the dev stack, tests and bench wait for it.
  Losing the broker later does not take a ready pod out of its Service: its API
  still answers (a submission's events wait in the outbox), and every replica
  would lose it at once. That is "pipeline" (service name PIPELINE) and the
  gauge secondlook_pipeline_connected, which follow the broker both ways, and the
  SecondlookPipelineDisconnected alert.
- Liveness (service "liveness"): every long-running loop has gone round within
  `liveness_stall_seconds`. A consumer loop or relay that stopped making
  progress fails it while gRPC still answers, and Kubernetes restarts the pod.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from secondlook import metrics
from secondlook.grpcserver import GrpcServer
from secondlook.logging import get_logger

log = get_logger(__name__)

LIVENESS = "liveness"
PIPELINE = "pipeline"


class Probes:
    def __init__(self, server: GrpcServer, *, stall_seconds: float, interval: float = 0.5):
        self._server = server
        self._stall = stall_seconds
        self._interval = interval
        self.ready_checks: dict[str, Callable[[], bool]] = {}
        # name -> monotonic time of the loop's last round
        self.heartbeats: dict[str, Callable[[], float]] = {}
        self.ready: bool | None = None
        self.connected: bool | None = None
        self.live: bool | None = None
        self._connected_gauge = metrics.PIPELINE_CONNECTED.labels(server.service)

    def not_ready(self) -> list[str]:
        return [name for name, check in self.ready_checks.items() if not check()]

    def stalled(self) -> list[str]:
        now = time.monotonic()
        return [name for name, beat in self.heartbeats.items() if now - beat() > self._stall]

    async def check_once(self) -> None:
        missing, stalled = self.not_ready(), self.stalled()
        connected, live = not missing, not stalled
        if connected != self.connected:
            self.connected = connected
            self._connected_gauge.set(1 if connected else 0)
            await self._server.set_health(PIPELINE, connected)
            if self.ready:  # after the start: said, but the pod stays ready
                (log.info if connected else log.warning)("pipeline_connection_changed", connected=connected,
                                                         waiting_for=missing)
            elif not connected:  # starting: what readiness waits for
                log.info("readiness_waiting", waiting_for=missing)
        if connected and not self.ready:
            self.ready = True
            await self._server.set_serving(True)
            log.info("readiness_changed", ready=True)
        if live != self.live:
            self.live = live
            await self._server.set_live(live)
            (log.info if live else log.error)("liveness_changed", live=live, stalled=stalled)

    async def run(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self._interval)

"""A reviewer's WatchAssignments stream, read in the background (for assertions)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from devstack import clients
from secondlook.v1 import review_pb2


class Watching:
    """One specialist's stream, read in the background into `changes`."""

    def __init__(self, settings, target: str, specialist_id: str, resume_after: str = ""):
        self.stub, self.authed = clients.reviewer(settings, target, specialist_id)
        self.changes: list[review_pb2.AssignmentChange] = []
        self.call = self.stub.WatchAssignments(review_pb2.WatchAssignmentsRequest(resume_after=resume_after),
                                               metadata=self.authed.metadata)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for change in self.call:
            self.changes.append(change)

    def of(self, case_id: str) -> list[review_pb2.AssignmentChange]:
        return [c for c in self.changes if c.assignment.case_id == case_id]

    async def close(self) -> None:
        self.call.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.authed.close()


async def refused_stream(call) -> grpc.aio.AioRpcError:
    """The error a server-streaming call ends with (the test fails if it ends without one)."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in call:
            pass
    return info.value

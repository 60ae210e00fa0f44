"""Bad input, the one way it is refused: an `InvalidInput` carrying every
(field path, rule) violation, and its gRPC form with rich details (google.rpc)."""

from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


class InvalidInput(Exception):
    """A command's input breaks rules: every violation, as (field path, rule)."""

    def __init__(self, violations: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {r}" for f, r in violations))
        self.violations = violations


def field_violations(*violations: tuple[str, str]) -> grpc.Status:
    """INVALID_ARGUMENT with google.rpc.BadRequest details, one per (field, rule)."""
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
        ]
    )
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message="; ".join(f"{f}: {d}" for f, d in violations),
    )
    status.details.add().Pack(bad)
    return rpc_status.to_status(status)

"""gRPC errors with rich details (google.rpc), the one way bad input is refused."""

from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


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

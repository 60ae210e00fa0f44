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


# The violations a refusal lists. Both the message and the details travel in the
# response's trailers, and gRPC clients refuse trailers over 8 KiB by default (the
# whole call then fails with RESOURCE_EXHAUSTED and no field named): this keeps both
# copies, the message percent-encoded past ASCII and the details base64-encoded, well
# inside that.
MAX_LISTED = 20
MAX_LISTED_BYTES = 1_500


def field_violations(*violations: tuple[str, str]) -> grpc.Status:
    """INVALID_ARGUMENT with google.rpc.BadRequest details, one per (field, rule): the
    first ones (MAX_LISTED, MAX_LISTED_BYTES of UTF-8), and in the message how many more."""
    listed, size = [], 0
    for f, d in violations[:MAX_LISTED]:
        f, d = f[:200], d[:400]
        size += len(f.encode()) + len(d.encode()) + 4
        if listed and size > MAX_LISTED_BYTES:
            break
        listed.append((f, d))
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in listed
        ]
    )
    message = "; ".join(f"{f}: {d}" for f, d in listed)
    if len(listed) < len(violations):
        message += f"; and {len(violations) - len(listed)} more violations (correct these and send it again)"
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
    status.details.add().Pack(bad)
    return rpc_status.to_status(status)
